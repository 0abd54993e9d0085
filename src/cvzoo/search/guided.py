"""Guided search over a grid: train the cells the predictors find promising (plain arrays).

Shared by the offline simulator (``cvzoo simulate``) and the live Hydra sweeper. Cells are
``(row, col)`` index pairs; ``observed`` is an (R, C) float matrix with NaN for untrained cells.
``GuidedSearch`` is the ask/tell driver; the scoring lives in ``cvzoo.search.acquisition``, the
covering design in ``cvzoo.search.design``, the quality model in ``cvzoo.predictors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from cvzoo.errors import ConfigError
from cvzoo.search.acquisition import (
    Cell,
    acquisition_scores,
    best_observed,
    candidate_mask,
    estimate_regret,
    oriented,
    search_std,
    select_batch,
    stop_probability,
)
from cvzoo.search.design import initial_design, resolve_budget
from cvzoo.search.knobs import DEFAULTS

__all__ = [
    "GuidedSearch",
    "estimate_regret",
    "initial_design",
    "propose",
    "resolve_budget",
    "stop_probability",
]

# Pseudo-observations at z^2 = 1 behind the search's own calibration of the predicted std.
CALIBRATION_PRIOR = 3.0


def fit_completion(observed: np.ndarray, method: str = "auto", seed: int = 0, **features: Any):
    """Fit the quality model the search acts on: exactly ``cvzoo complete`` on the trained cells."""
    from cvzoo.predictors.completion import complete

    return complete(observed, method=method, seed=seed, **features)


def propose(
    observed: np.ndarray,
    trainable_mask: np.ndarray | None,
    batch_size: int,
    rng: np.random.Generator,
    method: str = "auto",
    acquisition: str = "ei",
    *,
    lower_is_better: bool = False,
    kappa: float = 2.0,
    pending: Iterable[Cell] = (),
    completion: Any = None,
    seed: int = 0,
    std_scale: float = 1.0,
    **features: Any,
) -> list[Cell]:
    """Fit the predictors (unless ``completion`` is given) and return the next batch of cells."""
    if completion is None:
        completion = fit_completion(observed, method=method, seed=seed, **features)
    pending = list(pending)
    free = candidate_mask(observed, trainable_mask)
    for r, c in pending:
        free[r, c] = False
    mean = oriented(np.asarray(completion.mean, float), lower_is_better)
    best = best_observed(observed, lower_is_better)
    return select_batch(
        mean, search_std(completion, observed, std_scale), best, free, batch_size, rng,
        acquisition, kappa, pending,
    )  # fmt: skip


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
        method: str = DEFAULTS.method,
        acquisition: str = DEFAULTS.acquisition,
        kappa: float = DEFAULTS.kappa,
        stop_threshold: float = DEFAULTS.stop_threshold,
        init_share: float = DEFAULTS.init_share,
        full_design: bool = DEFAULTS.full_design,
        max_refits: int | None = None,
        row_features: np.ndarray | None = None,
        col_features: np.ndarray | None = None,
        seed: int = DEFAULTS.seed,
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
        self._predicted: dict[Cell, tuple[float, float]] = {}
        self._z: list[float] = []
        self._design = self._make_design(init_share, full_design)

    def _make_design(self, init_share: float, full_design: bool) -> list[Cell]:
        """The covering design minus lines already covered by earlier records, capped by budget.

        Kept whole when it takes at most 2 * ``init_share`` of the budget, or (``full_design``)
        whenever it leaves at least one run to the model; otherwise cut to ``init_share`` of the
        budget (a design that takes the whole budget would leave nothing guided).
        """
        trained = np.isfinite(self.observed)
        design = initial_design(*trained.shape, self.trainable, self.rng, trained)
        if len(design) <= 2 * init_share * self.budget or (full_design and len(design) < self.budget):
            return design
        return design[: max(1, int(np.ceil(init_share * self.budget)))]

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
            mean, std = self._predicted.pop((r, c), (np.nan, np.nan))
            if np.isfinite(mean) and std > 0:
                self._z.append((float(value) - mean) / std)

    @property
    def std_scale(self) -> float:
        """How much wider than predicted the misses of the model-picked cells were (>= 1).

        A robust z-scale (median |z| / 0.674, so a few wild misses such as diverged runs do not
        dominate) of every model-picked cell once trained, shrunk towards 1 by
        CALIBRATION_PRIOR pseudo-cells; it widens the std for acquisition and stopping.
        """
        if not self._z:
            return 1.0
        robust2 = (np.median(np.abs(self._z)) / 0.674) ** 2
        n = len(self._z)
        return float(np.sqrt(max(1.0, (n * robust2 + CALIBRATION_PRIOR) / (n + CALIBRATION_PRIOR))))

    def _take(self, queue: list[Cell], n: int, exclude: Iterable[Cell] = ()) -> list[Cell]:
        """Pop up to ``n`` cells from ``queue`` that can still be trained."""
        skip = self.pending | set(exclude)
        out: list[Cell] = []
        while queue and len(out) < n:
            cell = queue.pop(0)
            if self.trainable[cell] and np.isnan(self.observed[cell]) and cell not in skip:
                out.append(cell)
        return out

    def _from_model(self, n: int, chosen: list[Cell]) -> list[Cell]:
        """Cells from the current plan, refitting the predictors when the plan is used up."""
        out = self._take(self._plan, n, chosen)
        if len(out) == n:
            return out
        if not np.isfinite(self.observed).any():  # nothing to fit yet: spread at random
            free = candidate_mask(self.observed, self.trainable)
            for r, c in [*self.pending, *chosen, *out]:
                free[r, c] = False
            cells = np.argwhere(free)[self.rng.permutation(int(free.sum()))[: n - len(out)]]
            return out + [(int(r), int(c)) for r, c in cells]
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
            completion=self.completion, std_scale=self.std_scale,
        )  # fmt: skip
        std = search_std(self.completion, self.observed)
        self._predicted.update({cell: (self.completion.mean[cell], std[cell]) for cell in plan})
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
            self.completion, self.observed, self.trainable, self.lower_is_better, self.std_scale
        )

    def best(self) -> tuple[Cell, float] | None:
        """The best trained cell and its value (None before any success)."""
        if not np.isfinite(self.observed).any():
            return None
        score = oriented(self.observed, self.lower_is_better)
        r, c = np.unravel_index(np.nanargmax(score), score.shape)
        return (int(r), int(c)), float(self.observed[r, c])

    def summary(self) -> dict[str, Any]:
        """Winner, remaining-regret estimate and stop probability (refits the predictors)."""
        best = self.best()
        completion = self.fit() if best is not None else None
        args = (completion, self.observed, self.trainable, self.lower_is_better, self.std_scale)
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
