"""Choose the completion model and its hyper-parameters by cross-validation on observed cells."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cvzoo.predictors.als import AlsModel, _Layout, fit_als, init_als
from cvzoo.predictors.bias import Cells, fit_bias

BIAS_REGS = (0.3, 1.0, 3.0, 10.0)
ALS_REGS = (30.0, 10.0, 3.0, 1.0, 0.3)
ALS_RANKS = (1, 2, 3, 5, 8, 12, 20)
MIN_CELLS_FOR_CV = 8


@dataclass
class Candidate:
    """One model configuration and its out-of-fold predictions on the observed cells."""

    method: str
    params: dict
    oof: np.ndarray

    def sq_errors(self, cells: Cells) -> np.ndarray:
        """Squared out-of-fold error per observed cell."""
        return (self.oof - cells.values) ** 2


@dataclass
class Search:
    """All candidates tried, in a fixed fold assignment."""

    folds: np.ndarray
    candidates: list[Candidate] = field(default_factory=list)

    def best(self, method: str, cells: Cells) -> Candidate | None:
        """Candidate of ``method`` with the lowest out-of-fold mean squared error."""
        pool = [c for c in self.candidates if c.method == method]
        return min(pool, key=lambda c: c.sq_errors(cells).mean()) if pool else None


def n_folds(n_cells: int) -> int:
    """Fewer folds for larger matrices so the search stays affordable."""
    return 5 if n_cells <= 20_000 else 3


def make_folds(cells: Cells, k: int, seed: int) -> np.ndarray:
    """Assign each observed cell to one of ``k`` folds at random (balanced sizes)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(len(cells)) % k)


def rank_grid(cells: Cells) -> list[int]:
    """Ranks worth trying: at most a third of the median observations per row/column."""
    n_rows, n_cols = cells.counts()
    cap = min(np.median(n_rows[n_rows > 0]), np.median(n_cols[n_cols > 0])) / 3
    cap = min(cap, min(cells.shape) - 1)
    return [r for r in ALS_RANKS if r <= cap]


def search_bias(cells: Cells, search: Search) -> None:
    """Add out-of-fold predictions of the bias model for each regularisation."""
    for reg in BIAS_REGS:
        oof = np.empty(len(cells))
        for f in np.unique(search.folds):
            held = search.folds == f
            model = fit_bias(cells.subset(~held), reg=reg)
            oof[held] = model.predict_at(cells.rows[held], cells.cols[held])
        search.candidates.append(Candidate("bias", {"reg": reg}, oof))


def _als_fold(
    train: Cells, held: Cells, rank: int, bias_reg: float, seed: int
) -> dict[float, np.ndarray]:
    """Fit one fold along the regularisation path (warm starts) and predict the held cells."""
    layout = _Layout(train)
    model: AlsModel = init_als(train, rank, bias_reg, seed)
    preds = {}
    for i, reg in enumerate(ALS_REGS):
        model = fit_als(
            train, rank, reg, bias_reg, n_iter=15 if i == 0 else 8, init=model, layout=layout
        )
        preds[reg] = model.predict_at(held.rows, held.cols)
    return preds


def search_als(
    cells: Cells,
    search: Search,
    bias_reg: float,
    seed: int,
    tick: Callable[[], None] | None = None,
) -> None:
    """Add out-of-fold ALS predictions over ranks x regs; stop once a larger rank stops helping."""
    best_prev = np.inf
    for rank in rank_grid(cells):
        oof = {reg: np.empty(len(cells)) for reg in ALS_REGS}
        for f in np.unique(search.folds):
            held = search.folds == f
            preds = _als_fold(cells.subset(~held), cells.subset(held), rank, bias_reg, seed)
            for reg, p in preds.items():
                oof[reg][held] = p
            if tick is not None:
                tick()
        found = [
            Candidate("als", {"rank": rank, "reg": reg, "bias_reg": bias_reg}, oof[reg])
            for reg in ALS_REGS
        ]
        search.candidates.extend(found)
        best = min(c.sq_errors(cells).mean() for c in found)
        if best >= best_prev:
            break
        best_prev = best
