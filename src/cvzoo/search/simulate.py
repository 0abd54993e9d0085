"""Replay guided search and random search on a complete matrix, revealing cells instead of training.

Outcome per replay: regret = best cell - best trained cell (matrix units, >= 0 in both
orientations); "within 1%" means regret <= 1% of |best| (1% of the value range when best == 0,
so negative values and error rates of 0 behave); "found the best" means regret == 0 (ties count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cvzoo.errors import DataError
from cvzoo.search.guided import GuidedSearch, resolve_budget

METRICS = ("regret", "p_within_1pct", "p_best")
# Predictor fits per replay by default: 10, fewer on big grids where one fit takes seconds
# (REFIT_CELLS / trainable cells, at least 2), so a 20-seed table stays a matter of minutes.
MAX_REFITS, MIN_REFITS, REFIT_CELLS = 10, 2, 50_000
STRATEGIES = ("guided", "random")


@dataclass
class SimulationResult:
    """Mean outcome per budget for each strategy, plus runs actually used and wall time."""

    budget: list[float | int]
    runs: list[int]
    guided: dict[str, list[float]]
    random: dict[str, list[float]]
    guided_runs_used: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: budget plus regret / p_within_1pct / p_best per strategy."""
        return {"budget": list(self.budget), "guided": self.guided, "random": self.random}

    def to_markdown(self) -> str:
        """A Markdown table: one row per budget, guided vs random, and the runs guided used."""
        head = ["budget", "runs"]
        head += [f"{s} {m}" for s in STRATEGIES for m in ("regret", "P(within 1%)", "P(best)")]
        lines = ["| " + " | ".join([*head, "guided runs used"]) + " |"]
        lines.append("|" + "---:|" * (len(head) + 1))
        for i, budget in enumerate(self.budget):
            row = [str(budget), str(self.runs[i])]
            for strategy in STRATEGIES:
                values = getattr(self, strategy)
                row += [f"{values['regret'][i]:.4g}", f"{values['p_within_1pct'][i]:.2f}",
                        f"{values['p_best'][i]:.2f}"]  # fmt: skip
            lines.append("| " + " | ".join([*row, f"{self.guided_runs_used[i]:.1f}"]) + " |")
        return "\n".join(lines)


def tolerance(full: np.ndarray, best: float) -> float:
    """The "within 1%" margin: 1% of |best|, or 1% of the value range when best is 0."""
    if best != 0:
        return 0.01 * abs(best)
    finite = full[np.isfinite(full)]
    return 0.01 * float(finite.max() - finite.min())


def score_outcomes(regrets: np.ndarray, tol: float) -> dict[str, float]:
    """Mean regret, share within tolerance and share that found the best, over seeds."""
    regrets = np.asarray(regrets, float)
    return {
        "regret": float(regrets.mean()),
        "p_within_1pct": float(np.mean(regrets <= tol * (1 + 1e-9))),
        "p_best": float(np.mean(regrets <= 0)),
    }


def _oriented_best(values: np.ndarray, lower_is_better: bool) -> float:
    """The best finite value, sign-flipped so that higher is better."""
    finite = values[np.isfinite(values)]
    return float((-finite if lower_is_better else finite).max())


def replay_random(full: np.ndarray, runs: int, seed: int, lower_is_better: bool = False) -> float:
    """Regret of random search: ``runs`` distinct trainable cells drawn uniformly."""
    cells = np.flatnonzero(np.isfinite(full))
    rng = np.random.default_rng([seed, 1])
    picked = full.flat[rng.choice(cells, size=min(runs, cells.size), replace=False)]
    best = _oriented_best(full, lower_is_better)
    return best - _oriented_best(picked, lower_is_better)


def replay_guided(
    full: np.ndarray, runs: int, seed: int, lower_is_better: bool = False, **options: Any
) -> tuple[float, int]:
    """Regret of the guided search and the number of runs it used before stopping."""
    trainable = np.isfinite(full)
    names_r = [str(i) for i in range(full.shape[0])]
    names_c = [str(j) for j in range(full.shape[1])]
    search = GuidedSearch(
        names_r, names_c, runs, trainable=trainable, lower_is_better=lower_is_better, seed=seed,
        **options,
    )  # fmt: skip
    while batch := search.ask():
        for cell in batch:
            search.tell(cell, float(full[cell]))
    best = _oriented_best(full, lower_is_better)
    return best - _oriented_best(search.observed, lower_is_better), search.spent


def _check_full(full: np.ndarray) -> int:
    """Validate the matrix and return its number of trainable (finite) cells."""
    if full.ndim != 2 or full.size == 0:
        raise DataError(f"matrix must be 2-D and non-empty, got shape {full.shape}")
    n_trainable = int(np.isfinite(full).sum())
    if n_trainable < 2:
        raise DataError(f"matrix has {n_trainable} measured cell(s); a replay needs at least 2")
    return n_trainable


def default_refits(n_trainable: int) -> int:
    """The default cap on predictor fits per replay for a grid of ``n_trainable`` cells."""
    return int(np.clip(REFIT_CELLS // max(n_trainable, 1), MIN_REFITS, MAX_REFITS))


def simulate(
    full: np.ndarray,
    budgets: Sequence[float | int],
    seeds: int = 20,
    *,
    lower_is_better: bool = False,
    batch_size: int = 1,
    max_refits: int | str | None = "auto",
    row_features: np.ndarray | None = None,
    on_step: Callable[[], None] | None = None,
    **options: Any,
) -> SimulationResult:
    """Replay guided and random search ``seeds`` times for each budget and average the outcomes."""
    full = np.asarray(full, float)
    n_trainable = _check_full(full)
    runs = [resolve_budget(b, n_trainable) for b in budgets]
    refits = default_refits(n_trainable) if max_refits == "auto" else max_refits
    tol = tolerance(full, _oriented_best(full, lower_is_better) * (-1 if lower_is_better else 1))
    result = SimulationResult(list(budgets), runs, {m: [] for m in METRICS}, {m: [] for m in METRICS})
    start = time.perf_counter()
    for n_runs in runs:
        guided, used, rand = [], [], []
        for seed in range(seeds):
            regret, spent = replay_guided(
                full, n_runs, seed, lower_is_better, batch_size=batch_size,
                max_refits=refits, row_features=row_features, **options,
            )  # fmt: skip
            guided.append(regret)
            used.append(spent)
            rand.append(replay_random(full, n_runs, seed, lower_is_better))
            if on_step is not None:
                on_step()
        for name, regrets in (("guided", guided), ("random", rand)):
            for metric, value in score_outcomes(np.array(regrets), tol).items():
                getattr(result, name)[metric].append(value)
        result.guided_runs_used.append(float(np.mean(used)))
    result.seconds = time.perf_counter() - start
    return result
