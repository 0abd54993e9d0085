"""Replay multi-fidelity strategies on recorded learning curves at equal epoch budgets.

Per task, budget and seed each strategy spends the same number of epochs (a share of the epochs
needed to train every curve to its end) and names a winner: the configuration with the best
value it has seen. Regret is the best true value of the task (a curve's best value over its whole
length) minus the winner's true value. "Within 1%" means a regret of at most 1% of the absolute
best true value (1% of the range of true values when the best is 0): a relative margin that
does not depend on the metric's unit and treats negated metrics (minus perplexity) alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cvzoo.errors import ConfigError
from cvzoo.search import baselines
from cvzoo.search.epoch_data import CurveSet
from cvzoo.search.fidelity import FidelityConfig, Ledger
from cvzoo.search.multifidelity import EpochGuidedSearch
from cvzoo.search.simulate import tolerance

STRATEGIES = ("random", "guided_full", "asha", "top_k_after_1", "guided")


def run_guided(ledger: Ledger, curves: CurveSet, seed: int, fidelity: FidelityConfig) -> None:
    """Spend the ledger with the epoch-guided search."""
    search = EpochGuidedSearch(
        curves.row_index, curves.col_index, curves.max_epochs, curves.factors, fidelity, seed
    )
    while ledger.left > 0 and (step := search.ask()) is not None:
        i, to_epoch = step
        ledger.train(i, to_epoch)
        search.tell(i, ledger.best_so_far[i][: ledger.epochs[i]], ledger.complete(i))


def replay(curves: CurveSet, strategy: str, budget: int, seed: int, fidelity: FidelityConfig) -> Ledger:
    """Run one strategy on one task with ``budget`` epochs; the spent ledger."""
    ledger = Ledger(curves.curves, budget)
    rng = np.random.default_rng([seed, STRATEGIES.index(strategy)])
    if strategy == "random":
        baselines.run_random(ledger, rng)
    elif strategy == "top_k_after_1":
        baselines.run_top_k_after_1(ledger, rng)
    elif strategy == "asha":
        baselines.run_asha(ledger, rng, fidelity)
    elif strategy == "guided_full":
        shape = (len(curves.rows), len(curves.cols))
        baselines.run_guided_full(ledger, curves.row_index, curves.col_index, shape, seed)
    elif strategy == "guided":
        run_guided(ledger, curves, seed, fidelity)
    else:
        raise ConfigError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    return ledger


def epoch_budget(share: float | int, curves: CurveSet) -> int:
    """Epochs for a budget given as a share in (0, 1] of all epochs, or as a number of epochs."""
    if isinstance(share, int) or share > 1:
        return int(share)
    return max(1, int(round(share * curves.total_epochs)))


def simulate_task(
    curves: CurveSet,
    budgets: Sequence[float | int],
    seeds: int,
    strategies: Sequence[str] = STRATEGIES,
    fidelity: FidelityConfig | None = None,
    on_step: Callable[[], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per strategy: per-budget mean regret, share within 1% and epochs used, plus raw regrets."""
    fidelity = fidelity or FidelityConfig()
    truth = curves.true_values
    tol = tolerance(truth, float(truth.max()))
    out: dict[str, dict[str, Any]] = {
        s: {"regret": [], "p_within_1pct": [], "epochs_used": [], "regret_sd": []} for s in strategies
    }
    for share in budgets:
        budget = epoch_budget(share, curves)
        for strategy in strategies:
            regrets, used = [], []
            for seed in range(seeds):
                ledger = replay(curves, strategy, budget, seed, fidelity)
                regrets.append(float(truth.max() - truth[ledger.winner()]))
                used.append(ledger.used)
                if on_step is not None:
                    on_step()
            r = np.array(regrets)
            out[strategy]["regret"].append(float(r.mean()))
            out[strategy]["regret_sd"].append(float(r.std()))
            out[strategy]["p_within_1pct"].append(float(np.mean(r <= tol * (1 + 1e-9))))
            out[strategy]["epochs_used"].append(float(np.mean(used)))
    return out


def simulate_epochs(
    sets: Sequence[CurveSet],
    budgets: Sequence[float | int],
    seeds: int = 20,
    strategies: Sequence[str] = STRATEGIES,
    fidelity: FidelityConfig | None = None,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Replay every strategy on every task; the ``--json`` object (plus per-task spreads)."""
    start = time.perf_counter()
    tasks = {c.task: simulate_task(c, budgets, seeds, strategies, fidelity, on_step) for c in sets}
    mean = {
        s: {m: [float(np.mean([tasks[t][s][m][b] for t in tasks])) for b in range(len(budgets))]
            for m in ("regret", "p_within_1pct")}
        for s in strategies
    }  # fmt: skip
    return {"budgets": list(budgets), "tasks": tasks, "mean": mean, "seconds": time.perf_counter() - start}
