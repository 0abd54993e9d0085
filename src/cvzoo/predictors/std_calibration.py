"""Leave-one-out calibration of a Gaussian-process std, one factor per kind of cell.

Every trained cell is left out in turn (closed form) and its error is divided by its
leave-one-out std. The factor that makes those ratios cover like a Gaussian is then applied to
the predicted std. Cells differ in how far that holds. A cell whose row (or column) holds a
single trained cell rests on that one cell for the line's effect. It misses by far more, or by
far less, than the model's std says, depending on how well the line's effect carries over. So the
factor is taken per kind of cell (a Mondrian calibration), kinds being whether the cell's row
and its column are thin. Each kind's factor is shrunk towards the pooled one.
"""

from __future__ import annotations

import numpy as np

from cvzoo.predictors.bias import Cells
from cvzoo.predictors.uncertainty import ONE_STD_SHARE

# The std is calibrated on leave-one-out errors (MIN_LOO_CELLS trained cells or more): 68.3% within
# 1 std, and TWO_STD_SHARE (the middle of the 90-98% a calibrated std should cover) within 2 std.
# A kind's own factor counts as many cells as it has; the pooled one as MIN_LOO_CELLS more.
MIN_LOO_CELLS = 10
TWO_STD_SHARE = 0.93
# A row or column is thin when it holds at most THIN_LINE trained cells (a trained cell counts itself).
THIN_LINE = 1


def loo_z(kernel: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Leave-one-out error of every trained cell over its leave-one-out predictive std."""
    # Closed form for a Gaussian process with covariance scale2 * K: the error is
    # (K^-1 z)_i / (K^-1)_ii and the variance scale2 / (K^-1)_ii.
    inverse = np.linalg.inv(kernel)
    pz = inverse @ z
    scale2 = max(float(z @ pz) / max(z.size, 1), 1e-12)
    return pz / np.sqrt(np.maximum(np.diag(inverse), 1e-12) * scale2)


def tail_factor(ratios: np.ndarray) -> float:
    """Smallest factor that puts 68.3% of ``|error| / std`` within 1 and TWO_STD_SHARE within 2."""
    return float(max(np.quantile(ratios, ONE_STD_SHARE), np.quantile(ratios, TWO_STD_SHARE) / 2, 1e-6))


def cell_kinds(cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    """Kind (0-3: thin row x 2 + thin column) of every trained cell and of every grid cell."""
    n_rows, n_cols = cells.counts()
    grid = 2 * (n_rows <= THIN_LINE)[:, None] + (n_cols <= THIN_LINE)[None, :]
    return grid[cells.rows, cells.cols], grid


def calibration(cells: Cells, kernel: np.ndarray) -> tuple[np.ndarray, float]:
    """Factor on the std of every grid cell and the pooled factor (all 1 below MIN_LOO_CELLS cells)."""
    if len(cells) < MIN_LOO_CELLS:
        return np.ones(cells.shape), 1.0
    ratios = np.abs(loo_z(kernel, cells.values))
    pooled = tail_factor(ratios)
    trained, grid = cell_kinds(cells)
    factors = np.full(cells.shape, pooled)
    for kind in np.unique(trained):
        own = ratios[trained == kind]
        weight = own.size / (own.size + MIN_LOO_CELLS)
        factors[grid == kind] = weight * tail_factor(own) + (1 - weight) * pooled
    return factors, pooled
