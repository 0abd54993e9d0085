"""Gradient boosting (LightGBM) on side features plus ALS embeddings of a quality matrix.

A cell ``(i, j)`` is described by the row's and the column's side features, the ALS factors and
biases of row ``i`` and column ``j`` and the ALS prediction of the cell. For cells the model is
trained on, the ALS part is computed out of fold (from an ALS fit that did not see the cell),
so the booster learns how far to trust ALS on cells it has not seen; rows or columns without
any observation get missing ALS features and are predicted from their side features alone.
"""

from __future__ import annotations

import numpy as np

from cvzoo.predictors.als import fit_als
from cvzoo.predictors.bias import Cells
from cvzoo.predictors.fitted import Completion

ALS_RANK = 2
ALS_REG = 1.0
INNER_FOLDS = 5
CV_FOLDS = 5
ENSEMBLE = 5
MIN_CELLS = 6  # below this the booster cannot learn anything: predict the mean


def lgbm_regressor(seed: int, n_rows: int, bagging: bool = True):
    """A small, quiet, single-threaded LightGBM regressor sized for tiny tables."""
    from lightgbm import LGBMRegressor

    extra = {"subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8} if bagging else {}
    return LGBMRegressor(
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=max(2, min(20, n_rows // 20)),
        min_data_in_bin=1,
        reg_lambda=1.0,
        linear_tree=True,
        linear_lambda=0.1,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
        **extra,
    )


def als_width(rank: int = ALS_RANK) -> int:
    """Number of ALS features per cell: row and column factors, both biases, the prediction."""
    return 2 * rank + 3


def als_features(
    cells: Cells, rows: np.ndarray, cols: np.ndarray, seed: int, rank: int = ALS_RANK
) -> np.ndarray:
    """ALS factors, biases and prediction at ``(rows, cols)`` from a fit on ``cells``.

    Rows or columns without a cell in ``cells`` get NaN (missing) for their part.
    """
    out = np.full((len(rows), als_width(rank)), np.nan)
    if len(cells) < 2:
        return out
    model = fit_als(cells, rank=rank, reg=ALS_REG, n_iter=15, seed=seed, track_loss=False)
    n_rows, n_cols = cells.counts()
    seen_r, seen_c = n_rows[rows] > 0, n_cols[cols] > 0
    out[seen_r, :rank] = model.row_factors[rows[seen_r]]
    out[seen_c, rank : 2 * rank] = model.col_factors[cols[seen_c]]
    out[seen_r, 2 * rank] = model.bias.row[rows[seen_r]]
    out[seen_c, 2 * rank + 1] = model.bias.col[cols[seen_c]]
    both = seen_r & seen_c
    out[both, 2 * rank + 2] = model.predict_at(rows[both], cols[both])
    return out


def oof_als_features(cells: Cells, seed: int, folds: int = INNER_FOLDS) -> np.ndarray:
    """ALS features of every cell of ``cells`` from fits that did not see that cell."""
    out = np.full((len(cells), als_width()), np.nan)
    if len(cells) < 2 * folds:
        folds = max(2, len(cells) // 2)
    if len(cells) < 4:
        return out
    assign = np.random.default_rng(seed).permutation(len(cells)) % folds
    for fold in range(folds):
        held = assign == fold
        out[held] = als_features(cells.subset(~held), cells.rows[held], cells.cols[held], seed)
    return out


def _as_table(features: np.ndarray) -> np.ndarray:
    """Side features as a 2-D float array (one feature per column)."""
    table = np.asarray(features, float)
    return table.reshape(-1, 1) if table.ndim == 1 else table


def side_features(
    rows: np.ndarray,
    cols: np.ndarray,
    row_features: np.ndarray | None,
    col_features: np.ndarray | None,
) -> np.ndarray:
    """Row and column side features of each cell, side by side (empty when there are none)."""
    parts = [np.empty((len(rows), 0))]
    if row_features is not None:
        parts.append(_as_table(row_features)[rows])
    if col_features is not None:
        parts.append(_as_table(col_features)[cols])
    return np.hstack(parts)


def _als_part(row: bool, col: bool, rank: int = ALS_RANK) -> np.ndarray:
    """Indices of the ALS features that depend on the row and/or the column."""
    parts = []
    if row:
        parts += [*range(rank), 2 * rank, 2 * rank + 2]
    if col:
        parts += [*range(rank, 2 * rank), 2 * rank + 1, 2 * rank + 2]
    return np.array(sorted(set(parts)), dtype=int)


def _fit_predict(x_train, y_train, x_query, seed: int, n_models: int) -> np.ndarray:
    """Predictions (n_models, n_query) of an ensemble of boosters (bagging when n_models > 1)."""
    preds = []
    for k in range(n_models):
        model = lgbm_regressor(seed + k, len(y_train), bagging=n_models > 1)
        model.fit(x_train, y_train)
        preds.append(model.predict(x_query))
    return np.array(preds)


def _train_and_predict(
    cells: Cells, query: tuple[np.ndarray, np.ndarray], side, seed: int, n_models: int
) -> np.ndarray:
    """Predictions (n_models, n_query) of boosters trained on ``cells`` (standardized values).

    Query cells whose row or column has no observation miss some ALS features; they are
    predicted by a booster trained with the same features blanked, so it learned that case.
    """
    q_rows, q_cols = query
    if len(cells) < MIN_CELLS:
        return np.full((n_models, len(q_rows)), cells.values.mean() if len(cells) else 0.0)
    x_side = side(cells.rows, cells.cols)
    x_train = np.hstack([x_side, oof_als_features(cells, seed)])
    x_query = np.hstack([side(q_rows, q_cols), als_features(cells, q_rows, q_cols, seed)])
    n_rows, n_cols = cells.counts()
    cold_row, cold_col = n_rows[q_rows] == 0, n_cols[q_cols] == 0
    preds = np.empty((n_models, len(q_rows)))
    for blank_row in (False, True):
        for blank_col in (False, True):
            group = (cold_row == blank_row) & (cold_col == blank_col)
            if not group.any():
                continue
            train = x_train.copy()
            blank = _als_part(blank_row, blank_col)
            train[:, x_side.shape[1] + blank] = np.nan
            preds[:, group] = _fit_predict(train, cells.values, x_query[group], seed, n_models)
    return preds


def _cv_rmse(cells: Cells, side, seed: int) -> float:
    """Cross-validated RMSE (standardized units) of one booster per fold; NaN on tiny matrices."""
    if len(cells) < 2 * MIN_CELLS:
        return float("nan")
    assign = np.random.default_rng(seed + 1).permutation(len(cells)) % CV_FOLDS
    sq = np.empty(len(cells))
    for fold in range(CV_FOLDS):
        held = assign == fold
        query = (cells.rows[held], cells.cols[held])
        pred = _train_and_predict(cells.subset(~held), query, side, seed, 1)[0]
        sq[held] = (pred - cells.values[held]) ** 2
    return float(np.sqrt(sq.mean()))


def complete_boost(
    observed: np.ndarray,
    row_features: np.ndarray | None = None,
    col_features: np.ndarray | None = None,
    seed: int = 0,
) -> Completion:
    """Fill every NaN cell of ``observed`` with an ensemble of boosters; observed cells are kept.

    ``std`` combines the ensemble's spread with the cross-validated error; rows (columns) with no
    observation but with side features get a prediction from those features (cold start).
    """
    observed = np.asarray(observed, float)
    raw = Cells.from_matrix(observed)
    mu, scale = float(raw.values.mean()), float(raw.values.std()) or 1.0
    cells = Cells(raw.rows, raw.cols, (raw.values - mu) / scale, raw.shape)

    def side(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return side_features(r, c, row_features, col_features)

    grid_r, grid_c = (a.ravel() for a in np.indices(observed.shape))
    preds = _train_and_predict(cells, (grid_r, grid_c), side, seed, ENSEMBLE)
    cv = _cv_rmse(cells, side, seed)
    spread = preds.std(axis=0)
    std_z = np.sqrt(spread**2 + (cv if np.isfinite(cv) else 1.0) ** 2)
    known = np.isfinite(observed)
    mean = np.where(known, observed, (preds.mean(axis=0) * scale + mu).reshape(observed.shape))
    std = np.where(known, 0.0, (std_z * scale).reshape(observed.shape))
    final = fit_als(cells, rank=ALS_RANK, reg=ALS_REG, n_iter=15, seed=seed, track_loss=False)
    params = {"rank": ALS_RANK, "ensemble": ENSEMBLE, "n_estimators": 200}
    embeddings = (final.row_factors, final.col_factors)
    return Completion(mean, std, "boost", cv * scale, *embeddings, [], params)
