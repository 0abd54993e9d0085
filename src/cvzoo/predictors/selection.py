"""Choose the completion model and its hyper-parameters by cross-validation on observed cells.

Every row and column keeps one random "anchor" cell in every training split, so a held-out
cell is always predicted from a row and a column that still have data: the same situation as
completing a matrix whose rows and columns each hold at least one observation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cvzoo.predictors.als import AlsModel, Layout, SvdStart, fit_als, init_als
from cvzoo.predictors.bias import Cells, fit_bias

BIAS_REGS = (0.3, 1.0, 3.0, 10.0)
ALS_REGS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
ALS_RANKS = (1, 2, 4, 8, 16, 32)
MIN_CELLS_FOR_CV = 8
N_FOLDS = 5
ALL_FOLDS_UP_TO = 5_000  # larger matrices: one fold is enough held-out cells
PATH_START = 1.0
FINAL_SWEEPS = 30
FINAL_TOL = 1e-3
CHEAP_WORK = 200_000  # cells x (rank + 1)^2 below which ALS sweeps are cheap: run more


@dataclass
class Candidate:
    """One model configuration and its out-of-fold predictions (NaN where never held out)."""

    method: str
    params: dict
    oof: np.ndarray

    def sq_errors(self, cells: Cells) -> np.ndarray:
        """Squared out-of-fold error per held-out cell."""
        held = np.isfinite(self.oof)
        return (self.oof[held] - cells.values[held]) ** 2


@dataclass
class Search:
    """The fold plan and all candidates tried on it."""

    folds: np.ndarray
    evaluated: list[int]
    candidates: list[Candidate] = field(default_factory=list)

    def best(self, method: str, cells: Cells) -> Candidate | None:
        """Candidate of ``method`` with the lowest out-of-fold mean squared error."""
        pool = [c for c in self.candidates if c.method == method]
        return min(pool, key=lambda c: c.sq_errors(cells).mean()) if pool else None

    def splits(self) -> list[np.ndarray]:
        """Boolean held-out mask of each evaluated fold."""
        return [self.folds == f for f in self.evaluated]

    def empty_oof(self, n: int) -> np.ndarray:
        """An out-of-fold array to fill (NaN = not held out)."""
        return np.full(n, np.nan)


def _anchors(cells: Cells, rng: np.random.Generator) -> np.ndarray:
    """One random cell per observed row and per observed column (boolean mask)."""
    anchor = np.zeros(len(cells), dtype=bool)
    order = rng.permutation(len(cells))
    for index in (cells.rows, cells.cols):
        _, first = np.unique(index[order], return_index=True)
        anchor[order[first]] = True
    return anchor


def plan_folds(cells: Cells, seed: int) -> Search | None:
    """Random folds over non-anchor cells; None when too few cells can be held out."""
    rng = np.random.default_rng(seed)
    anchor = _anchors(cells, rng)
    free = np.flatnonzero(~anchor)
    if free.size < MIN_CELLS_FOR_CV:
        return None
    folds = np.full(len(cells), -1)
    folds[free] = rng.permutation(np.arange(free.size) % N_FOLDS)
    evaluated = list(range(N_FOLDS)) if len(cells) <= ALL_FOLDS_UP_TO else [0]
    return Search(folds, evaluated)


def rank_grid(cells: Cells) -> list[int]:
    """Ranks worth trying: below the median observations per row and per column."""
    n_rows, n_cols = cells.counts()
    cap = min(np.median(n_rows[n_rows > 0]), np.median(n_cols[n_cols > 0])) - 1
    cap = min(max(cap, 1), min(cells.shape) - 1)
    return [r for r in ALS_RANKS if r <= cap]


def search_bias(cells: Cells, search: Search) -> None:
    """Add out-of-fold predictions of the bias model for each regularisation."""
    for reg in BIAS_REGS:
        oof = search.empty_oof(len(cells))
        for held in search.splits():
            model = fit_bias(cells.subset(~held), reg=reg)
            oof[held] = model.predict_at(cells.rows[held], cells.cols[held])
        search.candidates.append(Candidate("bias", {"reg": reg}, oof))


def sweeps_per_step(n_cells: int, rank: int) -> tuple[int, int]:
    """ALS sweeps for the first and each later step of a path: many when sweeps are cheap."""
    return (30, 10) if n_cells * (rank + 1) ** 2 <= CHEAP_WORK else (6, 3)


@dataclass
class _Split:
    """One training/held-out split with what every rank reuses: layout and SVD start."""

    train: Cells
    held: Cells
    layout: Layout
    start: SvdStart


def _als_path(split: _Split, rank: int, bias_reg: float, seed: int) -> dict[float, np.ndarray]:
    """Fit one split along the regularisation path and predict the held cells.

    The path starts at ``PATH_START`` and warm-starts towards weaker regularisation (where
    ALS converges slowly from scratch), then from the start towards stronger regularisation
    (walking upwards from collapsed factors would never revive them).
    """
    train, held, layout = split.train, split.held, split.layout
    start = split.start.model(rank, seed)
    first, later = sweeps_per_step(len(train), rank)
    down = [r for r in ALS_REGS if r <= PATH_START][::-1]
    up = [r for r in ALS_REGS if r > PATH_START]
    preds = {}
    for branch in (down, up):
        model: AlsModel = start
        for reg in branch:
            sweeps = first if model is start and branch is down else later
            model = fit_als(train, rank, reg, bias_reg, sweeps, init=model, layout=layout, track_loss=False)
            preds[reg] = model.predict_at(held.rows, held.cols)
            if reg == PATH_START:
                start = model
    return preds


def path_to(reg: float) -> list[float]:
    """Regularisations walked from ``PATH_START`` to ``reg`` (both included) on the grid."""
    if reg <= PATH_START:
        return [r for r in ALS_REGS if reg <= r <= PATH_START][::-1]
    return [r for r in ALS_REGS if PATH_START <= r <= reg]


def fit_chosen_als(
    cells: Cells,
    params: dict,
    seed: int,
    on_iter: Callable[[int, float], None] | None = None,
) -> AlsModel:
    """Refit the chosen ALS on all cells along the same warm-started path, then converge."""
    layout = Layout(cells)
    rank, bias_reg = params["rank"], params["bias_reg"]
    model = init_als(cells, rank, bias_reg, seed)
    first, later = sweeps_per_step(len(cells), rank)
    for i, reg in enumerate(path_to(params["reg"])[:-1]):
        model = fit_als(cells, rank, reg, bias_reg, first if i == 0 else later, init=model,
                        layout=layout, track_loss=False)  # fmt: skip
    return fit_als(cells, rank, params["reg"], bias_reg, n_iter=FINAL_SWEEPS, tol=FINAL_TOL,
                   init=model, layout=layout, on_iter=on_iter)  # fmt: skip


def search_als(
    cells: Cells,
    search: Search,
    bias_reg: float,
    seed: int,
    tick: Callable[[], None] | None = None,
) -> None:
    """Add out-of-fold ALS predictions over ranks x regs; stop once a larger rank stops helping."""
    best_prev = np.inf
    ranks = rank_grid(cells)
    splits: dict[int, _Split] = {}
    for rank in ranks:
        oof = {reg: search.empty_oof(len(cells)) for reg in ALS_REGS}
        for i, held in enumerate(search.splits()):
            if i not in splits:
                train = cells.subset(~held)
                start = SvdStart(train, max(ranks), bias_reg)
                splits[i] = _Split(train, cells.subset(held), Layout(train), start)
            preds = _als_path(splits[i], rank, bias_reg, seed)
            for reg, p in preds.items():
                oof[reg][held] = p
            if tick is not None:
                tick()
        found = [
            Candidate("als", {"rank": rank, "reg": reg, "bias_reg": bias_reg}, oof[reg]) for reg in ALS_REGS
        ]
        search.candidates.extend(found)
        best = min(c.sq_errors(cells).mean() for c in found)
        if best >= best_prev:
            break
        best_prev = best
