"""Per-column standardisation and honest per-cell uncertainty for completed matrices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvzoo.predictors.bias import BiasModel, Cells

SCALE_PRIOR_CELLS = 2.0
RESID_PRIOR_CELLS = 5.0
ONE_STD_SHARE = 0.6827  # share of a Gaussian within +-1 std
MIN_CALIBRATION_CELLS = 20


@dataclass
class ColumnScaler:
    """Centre and scale each column by its observed cells (scales shrunk to a pooled value)."""

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, observed: np.ndarray) -> ColumnScaler:
        """Estimate per-column mean and a shrunk standard deviation from the finite cells."""
        known = np.isfinite(observed)
        n = known.sum(axis=0)
        filled = np.where(known, observed, 0.0)
        grand = filled.sum() / max(known.sum(), 1)
        center = np.where(n > 0, filled.sum(axis=0) / np.maximum(n, 1), grand)
        sq = np.where(known, (observed - center) ** 2, 0.0).sum(axis=0)
        var = np.where(n > 1, sq / np.maximum(n - 1, 1), np.nan)
        pooled = np.nanmedian(var) if np.isfinite(var).any() else np.nan
        if not np.isfinite(pooled) or pooled <= 0:
            spread = np.nanstd(observed)
            pooled = spread**2 if spread > 0 else 1.0
        dof = np.maximum(n - 1, 0)
        shrunk = (np.nan_to_num(sq) + SCALE_PRIOR_CELLS * pooled) / (dof + SCALE_PRIOR_CELLS)
        return cls(center, np.sqrt(np.maximum(shrunk, 1e-12 * pooled)))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Raw units -> per-column z-scores."""
        return (values - self.center) / self.scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Per-column z-scores -> raw units."""
        return z * self.scale + self.center


def _smoothed(index: np.ndarray, sq: np.ndarray, size: int, prior: float) -> np.ndarray:
    """Mean squared residual per group, shrunk towards the global one by ``prior`` pseudo-cells."""
    glob = sq.mean()
    total = np.bincount(index, sq, minlength=size)
    count = np.bincount(index, minlength=size)
    return (total + RESID_PRIOR_CELLS * glob) / (count + RESID_PRIOR_CELLS) / prior


def cell_std(cells: Cells, oof: np.ndarray | None, bias: BiasModel) -> np.ndarray:
    """Std per cell (z units): out-of-fold residual level plus the uncertainty of its biases.

    The residual level is the cross-validated squared error, smoothed per row and column.
    On top, each row/column bias contributes its Gaussian posterior variance
    tau^2 sigma^2 / (sigma^2 + n tau^2): large for rows/columns with few or no observations.
    """
    held = np.isfinite(oof) if oof is not None else np.zeros(len(cells), dtype=bool)
    resid2 = (oof[held] - cells.values[held]) ** 2 if held.any() else np.ones(1)
    rows, cols = (cells.rows[held], cells.cols[held]) if held.any() else (np.zeros(1, int),) * 2
    sigma2 = max(float(resid2.mean()), 1e-12)
    n_rows, n_cols = cells.counts()
    row_level = _smoothed(rows, resid2, cells.shape[0], 1.0)
    col_level = _smoothed(cols, resid2, cells.shape[1], sigma2)
    var = row_level[:, None] * col_level[None, :]
    for effect, n, axis in ((bias.row, n_rows, 1), (bias.col, n_cols, 0)):
        tau2 = max(float(np.var(effect[n > 0])) if (n > 0).sum() > 1 else 1.0, 1e-6)
        post = tau2 * sigma2 / (sigma2 + n * tau2)
        var = var + np.expand_dims(post, axis)
    return np.sqrt(var)


def calibration_factor(std_z: np.ndarray, cells: Cells, oof: np.ndarray | None) -> float:
    """Factor on ``std_z`` that puts 68.3% of the out-of-fold errors within +-1 std.

    Matches the Gaussian share at one std on the cross-validation errors themselves, so the std is
    right where it matters even when the errors are heavier-tailed than a Gaussian; 1 with fewer
    than ``MIN_CALIBRATION_CELLS`` held-out cells.
    """
    if oof is None or np.isfinite(oof).sum() < MIN_CALIBRATION_CELLS:
        return 1.0
    held = np.isfinite(oof)
    spread = np.maximum(std_z[cells.rows[held], cells.cols[held]], 1e-12)
    z = np.abs(oof[held] - cells.values[held]) / spread
    return float(max(np.quantile(z, ONE_STD_SHARE), 1e-6))
