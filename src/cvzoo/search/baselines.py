"""The multi-fidelity baselines a guided strategy is measured against, each spending a ``Ledger``.

- ``random``: configurations in random order, each trained to its end;
- ``top_k_after_1``: a one-epoch screen of every configuration (a random subset when the screen
  would take more than half the budget), then the best of the screen continued to their end;
- ``asha``: asynchronous successive halving with one worker: promote a configuration that is in
  the top 1/eta of its rung (by rank) to the next rung, else start a new one at the first rung.
"""

from __future__ import annotations

import numpy as np

from cvzoo.search.fidelity import FidelityConfig, Ledger
from cvzoo.search.guided import GuidedSearch
from cvzoo.search.simulate import default_refits

# The one-epoch screen of top_k_after_1 takes at most this share of the budget.
SCREEN_SHARE = 0.5
# Predictor fits per guided_full replay at most (each plans the runs up to the next fit), so a
# 20-seed table stays a matter of minutes on a laptop.
FULL_RUN_REFITS = 4


def run_random(ledger: Ledger, rng: np.random.Generator) -> None:
    """Train configurations to their end in random order until the budget is spent."""
    for i in rng.permutation(ledger.lengths.size):
        if ledger.left <= 0:
            return
        ledger.train(int(i), int(ledger.lengths[i]))


def run_top_k_after_1(ledger: Ledger, rng: np.random.Generator) -> None:
    """One epoch for every configuration (or a random subset), then the best ones to their end."""
    n = ledger.lengths.size
    screened = rng.permutation(n)[: min(n, max(1, int(SCREEN_SHARE * ledger.budget)))]
    for i in screened:
        ledger.train(int(i), 1)
    order = sorted(screened, key=lambda i: -ledger.value(int(i)))
    for i in order:
        if ledger.left <= 0:
            return
        ledger.train(int(i), int(ledger.lengths[i]))


def _promotable(ledger: Ledger, rungs: list[int], level: np.ndarray, k: int, eta: float) -> int | None:
    """A configuration in the top 1/eta of rung ``k`` that can go on to rung k + 1, or None."""
    members = np.flatnonzero(level >= k)
    top = int(members.size // eta)
    if top == 0:
        return None
    ranked = members[np.argsort([-ledger.value(int(i), rungs[k]) for i in members], kind="stable")]
    for i in ranked[:top]:
        if level[i] == k and not ledger.complete(int(i)):
            return int(i)
    return None


def run_asha(ledger: Ledger, rng: np.random.Generator, fidelity: FidelityConfig) -> None:
    """Asynchronous successive halving with one worker, promotion by rank at each rung.

    When every configuration has started and none qualifies for promotion, the best one that can
    still grow (highest rung first) is promoted, so the budget is never left idle.
    """
    rungs = fidelity.rungs(int(ledger.lengths.max()))
    level = np.full(ledger.lengths.size, -1)
    fresh = list(rng.permutation(ledger.lengths.size))
    while ledger.left > 0:
        job = next(
            (i for k in range(len(rungs) - 2, -1, -1)
             if (i := _promotable(ledger, rungs, level, k, fidelity.eta)) is not None),
            None,
        )  # fmt: skip
        if job is None and fresh:
            job = int(fresh.pop(0))
        if job is None:
            growing = [i for i in range(level.size) if level[i] >= 0 and not ledger.complete(i)]
            if not growing:
                return
            job = max(growing, key=lambda i: (level[i], ledger.value(i)))
        level[job] += 1
        ledger.train(job, rungs[level[job]])


def run_guided_full(
    ledger: Ledger, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], seed: int
) -> None:
    """Today's guided search over the row x column grid, every run trained to its end.

    Its run budget is the number of full-length runs the epoch budget pays for; runs that end
    early leave epochs over, which are handed back to it as further runs until it stops.
    """
    config = -np.ones(shape, int)
    config[rows, cols] = np.arange(rows.size)
    full = int(ledger.lengths.max())
    names_r, names_c = [str(i) for i in range(shape[0])], [str(j) for j in range(shape[1])]
    search = GuidedSearch(
        names_r, names_c, max(1, -(-ledger.budget // full)), trainable=config >= 0, seed=seed,
        max_refits=min(FULL_RUN_REFITS, default_refits(rows.size)),
    )  # fmt: skip
    while ledger.left > 0:
        batch = search.ask()
        if not batch:
            if search.stopped or not search.trainable.any() or search.remaining > 0:
                return
            search.budget += max(1, -(-ledger.left // full))
            continue
        for cell in batch:
            i = int(config[cell])
            ledger.train(i, int(ledger.lengths[i]))
            search.tell(cell, ledger.value(i))
