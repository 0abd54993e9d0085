"""Fill every cell of a quality matrix: one model family and one selection rule.

Sparse regime (fewer than ``MIN_HELD_TO_SWITCH`` cells can be held out while every row and
column keeps one): the two-way random-effects posterior on one shared scale (``auto``) or the
plain shared-scale bias model (``bias``); ALS cannot be tuned there and is refused. Dense
regime: the bias model and ALS on the shared-unit scales (per-column scales only where they
clearly predict better), chosen by cross-validation; ALS only where it clearly beats the bias
model. The guided search acts on the same result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from cvzoo.errors import ConfigError
from cvzoo.predictors.bias import BiasModel, Cells, fit_bias
from cvzoo.predictors.fitted import Completion
from cvzoo.predictors.progress import fit_progress
from cvzoo.predictors.random_effects import Scales, equal_shares, random_effects
from cvzoo.predictors.selection import (
    BIAS_REGS,
    FINAL_SWEEPS,
    Candidate,
    Search,
    fit_chosen_als,
    plan_folds,
    rank_grid,
    search_als,
    search_bias,
)
from cvzoo.predictors.uncertainty import ColumnScaler, calibration_factor, cell_std

METHODS = ("auto", "bias", "als", "boost")
CV_MAX_CELLS = 60_000
MIN_HELD_TO_SWITCH = 50
BOOST_MIN_CELLS = 12  # twice boosting.MIN_CELLS: fewer leave its cross-validation undefined


def _load_boost():
    """Return ``complete_boost`` from the boosting module, or raise ConfigError if missing."""
    try:
        module = importlib.import_module("cvzoo.predictors.boosting")
        return module.complete_boost
    except (ImportError, AttributeError):
        raise ConfigError(
            "method 'boost' is unavailable (cvzoo.predictors.boosting.complete_boost not found); "
            "use --method bias, als or auto"
        ) from None


def _check_inputs(observed: np.ndarray, method: str) -> np.ndarray:
    """Validate the method name and return ``observed`` as a 2-D float array."""
    if method not in METHODS:
        raise ConfigError(f"unknown completion method {method!r}; choose one of {', '.join(METHODS)}")
    observed = np.asarray(observed, dtype=float)
    if observed.ndim != 2 or observed.size == 0:
        raise ConfigError(f"observed must be a non-empty 2-D matrix, got shape {observed.shape}")
    if not np.isfinite(observed).any():
        raise ConfigError("observed has no finite cell; observe at least one value")
    if np.isinf(observed).any():
        raise ConfigError("observed holds +/-inf; use NaN for unknown cells")
    return observed


def _choose(search: Search, cells: Cells, method: str) -> Candidate:
    """Best bias candidate, or the best ALS one when it beats bias by more than its noise."""
    bias = search.best("bias", cells)
    als = search.best("als", cells)
    if method == "als" and als is None:
        raise ConfigError(
            "method 'als' has no rank to try: rows and columns hold a median of under 2 observed "
            "cells; use --method auto or bias"
        )
    if method == "bias" or als is None:
        return bias
    if method == "als":
        return als
    return als if clearly_better(bias.sq_errors(cells), als.sq_errors(cells)) else bias


def clearly_better(base_errors: np.ndarray, new_errors: np.ndarray) -> bool:
    """True when paired CV errors favour the new model by more than one standard error.

    With fewer than ``MIN_HELD_TO_SWITCH`` held-out cells the comparison is too noisy (the
    best of many ALS configurations wins on noise alone), so the simpler model stays.
    """
    gain = base_errors - new_errors
    if gain.size < MIN_HELD_TO_SWITCH:
        return False
    return bool(gain.mean() > gain.std(ddof=1) / np.sqrt(gain.size))


def _shared_unit(observed: np.ndarray) -> ColumnScaler:
    """One location and scale for the columns in one unit, own ones for a column in another unit.

    The sparse model's ``Scales``: a column's spread depends on which rows it was trained with,
    so only a spread far from the typical one (another unit) earns a column its own scale.
    """
    scales = Scales.fit(observed)
    return ColumnScaler(scales.center, scales.scale)


def _scaling_errors(
    observed: np.ndarray,
    fit_scaler: Callable[[np.ndarray], ColumnScaler],
    search: Search,
    yardstick: np.ndarray,
) -> np.ndarray:
    """Squared out-of-fold errors (in ``yardstick`` units per column) of the best-regularised bias
    model, with the scaler refit on every training split (a held-out cell never sets its own
    column's centre)."""
    cells = Cells.from_matrix(observed)
    measured = Cells(cells.rows, cells.cols, cells.values / yardstick[cells.cols], cells.shape)
    scored = Search(search.folds, search.evaluated)
    oof = {reg: scored.empty_oof(len(cells)) for reg in BIAS_REGS}
    for held in search.splits():
        train = observed.copy()
        train[cells.rows[held], cells.cols[held]] = np.nan
        scaler = fit_scaler(train)
        train_cells = Cells.from_matrix(scaler.transform(train))
        rows, cols = cells.rows[held], cells.cols[held]
        for reg in BIAS_REGS:
            z = fit_bias(train_cells, reg=reg).predict_at(rows, cols)
            oof[reg][held] = (z * scaler.scale[cols] + scaler.center[cols]) / yardstick[cols]
    scored.candidates = [Candidate("bias", {"reg": reg}, pred) for reg, pred in oof.items()]
    return scored.best("bias", measured).sq_errors(measured)


def _choose_scaling(observed: np.ndarray, seed: int) -> tuple[ColumnScaler, str]:
    """The shared-unit scales, or per-column scales where they clearly predict better.

    Both are cross-validated with the scaler refit on each training split and their errors put
    in one per-column yardstick, so matrices whose columns have different units compare fairly.
    Per-column centres and scales from the one to four cells a sparse column holds are noisy
    (and, fitted on all cells, would have seen the held-out ones), so they must earn their place.
    """
    per_column = ColumnScaler.fit(observed)
    shared = _shared_unit(observed)
    search = plan_folds(Cells.from_matrix(observed), seed)
    if search is None:
        return shared, "shared"
    errors = {
        name: _scaling_errors(observed, fit, search, per_column.scale)
        for name, fit in (("column", ColumnScaler.fit), ("shared", _shared_unit))
    }
    if clearly_better(errors["shared"], errors["column"]):
        return per_column, "column"
    return shared, "shared"


def _search(cells: Cells, method: str, seed: int, progress: bool) -> Candidate | None:
    """Cross-validate on a row subsample of large matrices; out-of-fold values mapped back."""
    if len(cells) <= CV_MAX_CELLS:
        return _search_all(cells, method, seed, progress)
    rng = np.random.default_rng(seed)
    n_rows = max(int(cells.shape[0] * CV_MAX_CELLS / len(cells)), 2)
    sub, mask = cells.take_rows(np.sort(rng.choice(cells.shape[0], n_rows, replace=False)))
    chosen = _search_all(sub, method, seed, progress)
    if chosen is None:
        return None
    oof = np.full(len(cells), np.nan)
    oof[mask] = chosen.oof
    return Candidate(chosen.method, chosen.params, oof)


def _search_all(cells: Cells, method: str, seed: int, progress: bool) -> Candidate | None:
    """Cross-validate the candidates of ``method``; None when there are too few cells."""
    search = plan_folds(cells, seed)
    if search is None:
        return None
    search_bias(cells, search)
    enough = method == "als" or (search.folds >= 0).sum() >= MIN_HELD_TO_SWITCH
    ranks = rank_grid(cells) if method in ("als", "auto") and enough else []
    if ranks:
        bias_reg = search.best("bias", cells).params["reg"]
        steps = len(ranks) * len(search.evaluated)
        with fit_progress(progress, "cross-validating ALS", steps) as tick:
            search_als(cells, search, bias_reg, seed, tick)
    return _choose(search, cells, method)


def _fit_final(cells: Cells, chosen: Candidate | None, seed: int, progress: bool):
    """Refit the chosen configuration on every observed cell."""
    if chosen is None or chosen.method == "bias":
        reg = chosen.params["reg"] if chosen else 1.0
        return fit_bias(cells, reg=reg), None
    p = chosen.params
    with fit_progress(progress, f"fitting ALS rank {p['rank']}", FINAL_SWEEPS) as tick:
        model = fit_chosen_als(cells, p, seed, on_iter=lambda i, loss: tick())
    return model.bias, model


def held_out_cells(observed: np.ndarray, seed: int = 0) -> int:
    """How many observed cells cross-validation can hold out (every row and column keeps one)."""
    search = plan_folds(Cells.from_matrix(np.asarray(observed, float)), seed)
    return 0 if search is None else int((search.folds >= 0).sum())


def _sparse(observed: np.ndarray, method: str, seed: int) -> Completion:
    """The sparse-regime fit of ``method``, or a one-line refusal for ALS."""
    held = held_out_cells(observed, seed)
    if method == "als":
        raise ConfigError(
            f"method 'als' needs {MIN_HELD_TO_SWITCH} observed cells beyond one per row and column "
            f"to choose its rank by cross-validation, this matrix has {held}; use --method auto or bias"
        )
    result = random_effects(observed) if method == "auto" else equal_shares(observed)
    result.params["held_out_cells"] = held
    return result


def complete(
    observed: np.ndarray,
    method: str = "auto",
    seed: int = 0,
    row_features: np.ndarray | None = None,
    col_features: np.ndarray | None = None,
    progress: bool = False,
) -> Completion:
    """Fill every NaN cell of ``observed`` (R, C); observed cells keep their values exactly."""
    observed = _check_inputs(observed, method)
    if method == "boost":
        boost = _load_boost()
        n_cells = int(np.isfinite(observed).sum())
        if n_cells < BOOST_MIN_CELLS:
            raise ConfigError(
                f"method 'boost' needs at least {BOOST_MIN_CELLS} observed cells to learn from, "
                f"this matrix has {n_cells}; use --method auto or bias"
            )
        return boost(observed, row_features, col_features, seed)
    if held_out_cells(observed, seed) < MIN_HELD_TO_SWITCH:
        result = _sparse(observed, method, seed)
        return _with_features(result, observed, method, seed, row_features, col_features)
    scaler, scaling = _choose_scaling(observed, seed)
    cells = Cells.from_matrix(scaler.transform(observed))
    chosen = _search(cells, method, seed, progress)
    bias, als = _fit_final(cells, chosen, seed, progress)
    pred = als.predict() if als is not None else bias.predict()
    oof = chosen.oof if chosen is not None else None
    result = _assemble(observed, scaler, cells, pred, oof, bias)
    if als is not None:
        result.method = "als"
        result.row_embeddings, result.col_embeddings = als.row_factors, als.col_factors
        result.loss_curve = list(als.loss_curve)
    result.params = {**(chosen.params if chosen else {"reg": 1.0}), "scaling": scaling}
    return _with_features(result, observed, method, seed, row_features, col_features)


def _assemble(observed, scaler, cells, pred_z, oof, bias: BiasModel) -> Completion:
    """Back-transform predictions, keep observed cells and attach the per-cell std."""
    known = np.isfinite(observed)
    mean = np.where(known, observed, scaler.inverse(pred_z))
    std_z = cell_std(cells, oof, bias)
    std = std_z * calibration_factor(std_z, cells, oof) * scaler.scale[None, :]
    std[known] = 0.0
    cv_rmse = np.nan
    if oof is not None:
        held = np.isfinite(oof)
        resid = (oof[held] - cells.values[held]) * scaler.scale[cells.cols[held]]
        cv_rmse = float(np.sqrt(np.mean(resid**2)))
    return Completion(mean, std, "bias", cv_rmse)


def _with_features(result, observed, method, seed, row_features, col_features) -> Completion:
    """Use boosting for auto (when better) and for rows/columns that have no observation."""
    known = np.isfinite(observed)
    cold = np.zeros_like(known)
    if row_features is not None:
        cold |= ~known.any(axis=1)[:, None]
    if col_features is not None:
        cold |= ~known.any(axis=0)[None, :]
    if (row_features is None and col_features is None) or (method != "auto" and not cold.any()):
        return result
    try:
        complete_boost = _load_boost()
    except ConfigError:
        result.params["cold_start"] = "bias (boosting unavailable)"
        return result
    boosted = complete_boost(observed, row_features, col_features, seed)
    if method == "auto" and np.isfinite(boosted.cv_rmse) and boosted.cv_rmse < result.cv_rmse:
        return boosted
    result.mean[cold], result.std[cold] = boosted.mean[cold], boosted.std[cold]
    if cold.any():
        result.params["cold_start"] = "boost"
    return result
