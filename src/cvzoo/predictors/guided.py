"""Guided search over a grid: train the cells the predictors find promising (plain arrays).

Shared by the offline simulator (``cvzoo simulate``) and the live Hydra sweeper. Cells are
``(row, col)`` index pairs; ``observed`` is an (R, C) float matrix with NaN for untrained cells.
Every score is oriented so that higher is better (``lower_is_better`` negates the values).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtr

from cvzoo.errors import ConfigError

Cell = tuple[int, int]
ACQUISITIONS = ("ucb", "ei")
# After a cell is picked for a batch, the std of its row and column is shrunk by this factor
# (a cheap stand-in for refitting on the fantasy value), so one batch spreads over the grid.
BATCH_SHRINK = 0.7


def resolve_budget(budget: float | int, n_trainable: int) -> int:
    """Turn a budget (a fraction in (0, 1] of the trainable cells, or an int >= 1) into runs."""
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.integer | np.floating):
        raise ConfigError(f"budget={budget!r} is not a number; use a fraction like 0.3 or runs")
    if isinstance(budget, int | np.integer):
        runs = int(budget)
    elif 0 < budget <= 1:
        runs = max(1, round(float(budget) * n_trainable))
    elif float(budget).is_integer():
        runs = int(budget)
    else:
        runs = 0
    if runs < 1:
        raise ConfigError(
            f"budget={budget!r} is invalid; use a fraction in (0, 1] of the grid or an integer "
            "number of runs >= 1"
        )
    return min(runs, n_trainable)


def _least_used(candidates: np.ndarray, use: np.ndarray, rng: np.random.Generator) -> int:
    """A random candidate among those used the fewest times so far."""
    counts = use[candidates]
    return int(rng.choice(candidates[counts == counts.min()]))


def initial_design(
    n_rows: int,
    n_cols: int,
    trainable_mask: np.ndarray | None,
    rng: np.random.Generator,
    trained: np.ndarray | None = None,
) -> list[Cell]:
    """A randomized Latin-style design covering every coverable row and column (~max(R, C) cells).

    Rows come in random order, each paired with its least-used trainable column, so the first
    min(R, C) cells already hit distinct columns; leftover columns then get their least-used row.
    Rows and columns that already hold a ``trained`` cell need no design cell.
    """
    mask = np.ones((n_rows, n_cols), bool) if trainable_mask is None else trainable_mask.copy()
    seen = np.zeros((n_rows, n_cols), bool) if trained is None else np.asarray(trained, bool)
    mask &= ~seen
    row_use, col_use = seen.sum(axis=1), seen.sum(axis=0)
    design: list[Cell] = []
    for r in rng.permutation(n_rows):
        cols = np.flatnonzero(mask[r])
        if cols.size and row_use[r] == 0:
            c = _least_used(cols, col_use, rng)
            design.append((int(r), c))
            row_use[r] += 1
            col_use[c] += 1
    for c in rng.permutation(n_cols):
        rows = np.flatnonzero(mask[:, c])
        if col_use[c] == 0 and rows.size:
            r = _least_used(rows, row_use, rng)
            design.append((r, int(c)))
            row_use[r] += 1
            col_use[c] += 1
    return design


def _oriented(values: np.ndarray, lower_is_better: bool) -> np.ndarray:
    """Values with higher = better."""
    return -values if lower_is_better else values


def best_observed(observed: np.ndarray, lower_is_better: bool = False) -> float:
    """The best trained value in oriented units (higher is better); -inf when none."""
    finite = observed[np.isfinite(observed)]
    return float(_oriented(finite, lower_is_better).max()) if finite.size else -np.inf


def acquisition_scores(
    mean: np.ndarray, std: np.ndarray, best: float, acquisition: str = "ucb", kappa: float = 2.0
) -> np.ndarray:
    """Score cells (higher = more promising) by upper confidence bound or expected improvement."""
    sd = np.maximum(std, 1e-12)
    if acquisition == "ucb":
        return mean + kappa * sd
    if acquisition == "ei":
        if not np.isfinite(best):
            return mean + kappa * sd
        z = (mean - best) / sd
        return sd * (z * ndtr(z) + np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi))
    raise ConfigError(
        f"acquisition={acquisition!r} is unknown; use one of {', '.join(ACQUISITIONS)}"
    )


def select_batch(
    mean: np.ndarray,
    std: np.ndarray,
    best: float,
    candidates: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    acquisition: str = "ucb",
    kappa: float = 2.0,
    pending: Iterable[Cell] = (),
) -> list[Cell]:
    """Pick ``batch_size`` distinct candidate cells greedily with a kriging-believer fantasy.

    Each picked (or pending) cell is assumed to come out at its predicted mean (raising the
    incumbent for EI) and shrinks the std of its row and column, so the batch spreads out.
    """
    std = std.astype(float).copy()
    free = candidates.copy()

    def believe(r: int, c: int) -> float:
        std[r, :] *= BATCH_SHRINK
        std[:, c] *= BATCH_SHRINK
        free[r, c] = False
        return max(best, float(mean[r, c]))

    for r, c in pending:
        best = believe(r, c)
    picks: list[Cell] = []
    jitter = rng.random(mean.shape) * 1e-9  # random tie-breaking among equal scores
    while len(picks) < batch_size and free.any():
        scores = acquisition_scores(mean, std, best, acquisition, kappa) + jitter
        flat = np.where(free, scores, -np.inf).argmax()
        r, c = (int(i) for i in np.unravel_index(flat, mean.shape))
        picks.append((r, c))
        best = believe(r, c)
    return picks


def fit_completion(observed: np.ndarray, method: str = "auto", seed: int = 0, **features: Any):
    """Fit the matrix-completion predictors on the trained cells (NaN = untrained)."""
    from cvzoo.predictors.completion import complete

    return complete(observed, method=method, seed=seed, **features)


def candidate_mask(observed: np.ndarray, trainable_mask: np.ndarray | None) -> np.ndarray:
    """Cells that may still be trained: trainable and not yet observed."""
    untrained = ~np.isfinite(observed)
    return untrained if trainable_mask is None else untrained & trainable_mask


def propose(
    observed: np.ndarray,
    trainable_mask: np.ndarray | None,
    batch_size: int,
    rng: np.random.Generator,
    method: str = "auto",
    acquisition: str = "ucb",
    *,
    lower_is_better: bool = False,
    kappa: float = 2.0,
    pending: Iterable[Cell] = (),
    completion: Any = None,
    seed: int = 0,
    **features: Any,
) -> list[Cell]:
    """Fit the predictors (unless ``completion`` is given) and return the next batch of cells."""
    if completion is None:
        completion = fit_completion(observed, method=method, seed=seed, **features)
    pending = list(pending)
    free = candidate_mask(observed, trainable_mask)
    for r, c in pending:
        free[r, c] = False
    mean = _oriented(np.asarray(completion.mean, float), lower_is_better)
    best = best_observed(observed, lower_is_better)
    return select_batch(
        mean, np.asarray(completion.std, float), best, free, batch_size, rng,
        acquisition, kappa, pending,
    )  # fmt: skip


def _beat_stats(completion: Any, observed: np.ndarray, trainable_mask, lower_is_better: bool):
    """Oriented mean/std of the untrained trainable cells and the best trained value."""
    free = candidate_mask(observed, trainable_mask)
    mean = _oriented(np.asarray(completion.mean, float), lower_is_better)[free]
    std = np.maximum(np.asarray(completion.std, float)[free], 1e-12)
    return mean, std, best_observed(observed, lower_is_better)


def stop_probability(
    completion: Any,
    observed: np.ndarray,
    trainable_mask: np.ndarray | None = None,
    lower_is_better: bool = False,
) -> float:
    """Predicted chance that some untrained cell beats the best trained one: 1 - prod(1 - p)."""
    mean, std, best = _beat_stats(completion, observed, trainable_mask, lower_is_better)
    if mean.size == 0:
        return 0.0
    if not np.isfinite(best):
        return 1.0
    log_none = log_ndtr((best - mean) / std).sum()  # log prod P(cell <= best)
    return float(-np.expm1(log_none))


def estimate_regret(
    completion: Any,
    observed: np.ndarray,
    trainable_mask: np.ndarray | None = None,
    lower_is_better: bool = False,
    n_grid: int = 256,
) -> float:
    """Expected remaining regret E[max(0, max untrained - best trained)] under the Gaussians."""
    mean, std, best = _beat_stats(completion, observed, trainable_mask, lower_is_better)
    if mean.size == 0:
        return 0.0
    if not np.isfinite(best):
        return float("nan")
    reach = mean + 8 * std
    live = reach > best
    if not live.any():
        return 0.0
    mean, std = mean[live], std[live]
    t = np.linspace(0.0, float(reach[live].max() - best), n_grid)
    # P(max - best > t) = 1 - prod_i Phi((best + t - mean_i) / std_i), one grid point at a time
    exceed = np.array([-np.expm1(log_ndtr((best + x - mean) / std).sum()) for x in t])
    return float(np.trapezoid(exceed, t))


class GuidedSearch:
    """Ask/tell driver: an initial covering design, then model-guided batches until the budget is
    spent or the predicted chance that an untrained cell beats the best trained one is small.

    ``budget`` counts the runs this search launches (failed runs included); ``observed`` may hold
    records from earlier sweeps. ``max_refits`` caps the number of predictor fits (the simulator
    uses it on large grids: one fit then plans several cells); None refits before every batch.
    """

    def __init__(
        self,
        rows: Sequence[str],
        cols: Sequence[str],
        budget: float | int,
        batch_size: int = 1,
        *,
        trainable: np.ndarray | None = None,
        observed: np.ndarray | None = None,
        lower_is_better: bool = False,
        method: str = "auto",
        acquisition: str = "ucb",
        kappa: float = 2.0,
        stop_threshold: float = 0.05,
        init_share: float = 0.5,
        max_refits: int | None = None,
        row_features: np.ndarray | None = None,
        col_features: np.ndarray | None = None,
        seed: int = 0,
        spent: int = 0,
    ) -> None:
        self.rows, self.cols = list(rows), list(cols)
        shape = (len(self.rows), len(self.cols))
        self.observed = np.full(shape, np.nan) if observed is None else np.array(observed, float)
        self.trainable = np.ones(shape, bool) if trainable is None else np.array(trainable, bool)
        if self.observed.shape != shape or self.trainable.shape != shape:
            raise ConfigError(f"observed/trainable must have shape {shape} (rows x cols)")
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size} must be >= 1")
        acquisition_scores(np.zeros(1), np.ones(1), 0.0, acquisition)  # validates the name
        self.budget = resolve_budget(budget, int(self.trainable.sum()))
        self.batch_size, self.spent, self.seed = batch_size, spent, seed
        self.lower_is_better, self.method, self.acquisition = lower_is_better, method, acquisition
        self.kappa, self.stop_threshold, self.max_refits = kappa, stop_threshold, max_refits
        self.features = {"row_features": row_features, "col_features": col_features}
        self.rng = np.random.default_rng(seed)
        self.pending: set[Cell] = set()
        self.failed: set[Cell] = set()
        self.completion: Any = None
        self.fits, self.stopped = 0, False
        self._plan: list[Cell] = []
        self._design = self._make_design(init_share)

    def _make_design(self, init_share: float) -> list[Cell]:
        """The covering design minus lines already covered by earlier records, capped by budget."""
        trained = np.isfinite(self.observed)
        design = initial_design(*trained.shape, self.trainable, self.rng, trained)
        cap = max(min(self.observed.shape), int(np.ceil(init_share * self.budget)))
        return design[:cap]

    @property
    def remaining(self) -> int:
        """Runs left in the budget (pending runs already count as spent)."""
        return max(0, self.budget - self.spent)

    @property
    def done(self) -> bool:
        """True when nothing is pending and no further cell will be asked for."""
        if self.pending:
            return False
        free = candidate_mask(self.observed, self.trainable).sum()
        return self.stopped or self.remaining == 0 or free == 0

    def ask(self) -> list[Cell]:
        """The next cells to train (at most ``batch_size``); empty when the search is over."""
        n = min(self.batch_size, self.remaining)
        if n <= 0 or self.stopped:
            return []
        batch = self._take(self._design, n)
        if len(batch) < n:
            batch += self._from_model(n - len(batch), batch)
        self.pending.update(batch)
        self.spent += len(batch)
        return batch

    def tell(self, cell: Cell, value: float | None) -> None:
        """Record the outcome of a cell; None (or non-finite) marks a failed run."""
        r, c = int(cell[0]), int(cell[1])
        self.pending.discard((r, c))
        if value is None or not np.isfinite(value):
            self.failed.add((r, c))
            self.trainable[r, c] = False
        else:
            self.observed[r, c] = float(value)

    def _take(self, queue: list[Cell], n: int, exclude: Iterable[Cell] = ()) -> list[Cell]:
        """Pop up to ``n`` cells from ``queue`` that can still be trained."""
        free = candidate_mask(self.observed, self.trainable)
        skip = self.pending | set(exclude)
        out: list[Cell] = []
        while queue and len(out) < n:
            cell = queue.pop(0)
            if free[cell] and cell not in skip:
                out.append(cell)
        return out

    def _from_model(self, n: int, chosen: list[Cell]) -> list[Cell]:
        """Cells from the current plan, refitting the predictors when the plan is used up."""
        out = self._take(self._plan, n, chosen)
        if len(out) == n:
            return out
        self.fit()
        if not self._design and not chosen and self.stop_probability() < self.stop_threshold:
            self.stopped = True
            return out
        busy = [*self.pending, *chosen, *out]
        size = n - len(out)
        if self.max_refits:
            left = max(1, self.max_refits - self.fits + 1)
            size = max(size, int(np.ceil((self.remaining - len(chosen)) / left)))
        plan = propose(
            self.observed, self.trainable, size, self.rng, self.method, self.acquisition,
            lower_is_better=self.lower_is_better, kappa=self.kappa, pending=busy,
            completion=self.completion,
        )  # fmt: skip
        self._plan = plan[n - len(out) :]
        return out + plan[: n - len(out)]

    def fit(self) -> Any:
        """Refit the predictors on every trained cell and keep the result in ``completion``."""
        self.completion = fit_completion(
            self.observed, method=self.method, seed=self.seed + self.fits, **self.features
        )
        self.fits += 1
        return self.completion

    def stop_probability(self) -> float:
        """Predicted chance that an untrained cell beats the best trained one (last fit)."""
        return stop_probability(
            self.completion, self.observed, self.trainable, self.lower_is_better
        )

    def best(self) -> tuple[Cell, float] | None:
        """The best trained cell and its value (None before any success)."""
        if not np.isfinite(self.observed).any():
            return None
        oriented = np.where(np.isfinite(self.observed), self.observed, np.nan)
        oriented = _oriented(oriented, self.lower_is_better)
        r, c = np.unravel_index(np.nanargmax(oriented), oriented.shape)
        return (int(r), int(c)), float(self.observed[r, c])

    def summary(self) -> dict[str, Any]:
        """Winner, remaining-regret estimate and stop probability (refits the predictors)."""
        best = self.best()
        completion = self.fit() if best is not None else None
        args = (completion, self.observed, self.trainable, self.lower_is_better)
        return {
            "winner": None if best is None else [self.rows[best[0][0]], self.cols[best[0][1]]],
            "winner_value": None if best is None else best[1],
            "estimated_regret": None if best is None else estimate_regret(*args),
            "stop_probability": None if best is None else stop_probability(*args),
            "trained": int(np.isfinite(self.observed).sum()),
            "failed": len(self.failed),
            "spent": self.spent,
            "budget": self.budget,
        }
