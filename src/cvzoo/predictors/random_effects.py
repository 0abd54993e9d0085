"""The two-way random-effects model: the quality model while a grid is too sparse to cross-validate.

``y = c_g + a_row + b_col + e`` (Gaussian), solved exactly as a Gaussian process on the trained
cells. Scales: a column measured in another unit (enough trained cells, spread far from the
typical column's) is standardized on its own and gets its own fixed intercept (flat prior,
estimated jointly with the row effects); all other columns share one location, scale and
intercept, and their column effects are shrunk. Row, column and noise shares of the variance
are not guessed: every pair on a small grid is weighed by its restricted likelihood and the
predictions are averaged. Unlike column-centred completion, a column trained once does not
absorb its cell's whole deviation, so row effects are learned from the first linked cells on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from cvzoo.predictors.bias import Cells, fit_bias
from cvzoo.predictors.fitted import Completion
from cvzoo.predictors.uncertainty import MIN_CALIBRATION_CELLS, ONE_STD_SHARE

METHOD = "random_effects"

# Candidate variance shares: noise, and the row part of what is left (the rest is the column's).
NOISE_SHARES = (0.05, 0.2)
ROW_SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
# Spread assumed while the trained cells have none (one cell): 1% of |value| (or 1).
SINGLE_CELL_SCALE = 0.01
# A column gets its own location and scale (and intercept) when it holds at least OWN_SCALE_CELLS
# trained cells and its spread differs from the typical column's by more than UNIT_RATIO: then it
# is measured in another unit. Within one unit, spreads differ by the rows a column was trained
# with (a column of strong backbones only is narrow), which a shared scale keeps comparable.
OWN_SCALE_CELLS = 10
UNIT_RATIO = 4.0
# Trained cells above which the exact solve (n x n per share) is too slow: ``equal_shares`` then
# serves (the same model with row, column and noise shares fixed at one third each).
MAX_CELLS = 1_000
EQUAL_SHARE = 1.0 / 3.0

Lines = tuple[np.ndarray, np.ndarray]  # one-hot matrix and line indices, see _indicators


def _indicators(index: np.ndarray) -> Lines:
    """One-hot (n, k) matrix of the trained cells' rows (or columns) over the k lines that hold
    a trained cell, and those lines' indices."""
    lines, position = np.unique(index, return_inverse=True)
    out = np.zeros((index.size, lines.size))
    out[np.arange(index.size), position] = 1.0
    return out, lines


def _per_line(values: np.ndarray, lines: np.ndarray, size: int) -> np.ndarray:
    """Spread per-line values (last axis) over all ``size`` lines (0 for lines without a cell)."""
    out = np.zeros((*values.shape[:-1], size))
    out[..., lines] = values
    return out


@dataclass
class Scales:
    """Per-column location and scale, and each column's fixed intercept (0 = the shared one)."""

    center: np.ndarray
    scale: np.ndarray
    group: np.ndarray

    @classmethod
    def fit(cls, observed: np.ndarray) -> Scales:
        """Own mean/std for columns with enough trained cells, one shared pair for the others."""
        known = np.isfinite(observed)
        count = known.sum(axis=0)
        filled = np.where(known, observed, 0.0)
        col_mean = filled.sum(axis=0) / np.maximum(count, 1)
        col_std = np.sqrt(np.where(known, (observed - col_mean) ** 2, 0.0).sum(axis=0) / np.maximum(count, 1))
        enough = (count >= OWN_SCALE_CELLS) & (col_std > 0)
        own = np.zeros_like(enough)
        if enough.any():  # a spread far from the typical one means another unit, not other rows
            reference = np.median(col_std[enough])
            own = enough & (np.abs(np.log(np.maximum(col_std, 1e-300) / reference)) > np.log(UNIT_RATIO))
        if (~own).any() and not known[:, ~own].any():  # the shared intercept would have no cell
            own[:] = False
        values = observed[:, ~own][known[:, ~own]] if (~own).any() else np.zeros(0)
        loc = float(values.mean()) if values.size else 0.0
        spread = float(values.std()) if values.size else 0.0
        shared = spread if spread > 0 else (SINGLE_CELL_SCALE * abs(loc) or 1.0)
        center = np.full(observed.shape[1], loc)
        scale = np.full(observed.shape[1], shared)
        center[own], scale[own] = col_mean[own], col_std[own]
        group = np.zeros(observed.shape[1], dtype=int)
        group[own] = np.arange(1, own.sum() + 1)
        if not (~own).any():
            group -= 1
        return cls(center, scale, group)


def _intercept_var(k_x, by_row: Lines, by_col: Lines, inv_info, group, shape, weights) -> np.ndarray:
    """Variance added by the estimated intercepts: u' (X'K^-1X)^-1 u, u = x* - X'K^-1 k*."""
    (rind, row_lines), (cind, col_lines) = by_row, by_col
    row_w, col_w = weights
    a = _per_line(row_w * (k_x.T @ rind), row_lines, shape[0])  # (p, R)
    b = _per_line(col_w * (k_x.T @ cind), col_lines, shape[1])  # (p, C)
    ma, mb = inv_info @ a, inv_info @ b
    cols = np.arange(shape[1])
    own = inv_info[group, group][None, :] - 2 * ma[group, :].T - 2 * mb[group, cols][None, :]
    return own + np.einsum("pr,pr->r", a, ma)[:, None] + np.einsum("pc,pc->c", b, mb)[None, :] + 2 * a.T @ mb


def _posterior(by_row: Lines, by_col: Lines, z, design, group, shape, shares):
    """Mean, variance (standardized units) and log restricted likelihood for one set of shares.

    ``design`` (n, p) marks each trained cell's intercept, ``group`` (C,) each column's.
    """
    row_w, col_w, noise_w = shares
    n, p = design.shape
    (rind, row_lines), (cind, col_lines) = by_row, by_col
    factor = cho_factor(row_w * rind @ rind.T + col_w * cind @ cind.T + noise_w * np.eye(n))
    k_x = cho_solve(factor, design)
    info = design.T @ k_x
    inv_info = np.linalg.inv(info)
    beta = inv_info @ (k_x.T @ z)
    resid = z - design @ beta
    alpha = cho_solve(factor, resid)
    scale2, loglik = 1.0, 0.0
    if n > p:
        scale2 = max(float(resid @ alpha) / (n - p), 1e-12)
        logdet = np.linalg.slogdet(info)[1]
        loglik = -(n - p) / 2 * np.log(scale2) - np.log(np.diag(factor[0])).sum() - logdet / 2
    k_rows, k_cols = cho_solve(factor, rind), cho_solve(factor, cind)  # K^-1 R, K^-1 C

    def spread(row_values: np.ndarray, col_values: np.ndarray) -> np.ndarray:
        """row term[:, None] + col term[None, :] over the whole grid."""
        return _per_line(row_values, row_lines, shape[0])[:, None] + _per_line(
            col_values, col_lines, shape[1]
        )

    mean = beta[group][None, :] + spread(row_w * (rind.T @ alpha), col_w * (cind.T @ alpha))
    explained = spread(
        row_w**2 * np.einsum("nr,nr->r", rind, k_rows), col_w**2 * np.einsum("nc,nc->c", cind, k_cols)
    )
    explained[np.ix_(row_lines, col_lines)] += 2 * row_w * col_w * (rind.T @ k_cols)
    fixed = _intercept_var(k_x, by_row, by_col, inv_info, group, shape, (row_w, col_w))
    var = scale2 * (row_w + col_w + noise_w - explained + fixed)
    return mean, np.maximum(var, 1e-12 * scale2), loglik


def _loo_z(by_row: Lines, by_col: Lines, z: np.ndarray, design: np.ndarray, shares) -> np.ndarray:
    """Leave-one-out error of every trained cell over its leave-one-out predictive std.

    Closed form for a Gaussian process with GLS intercepts: with P = K^-1 - K^-1 X (X'K^-1X)^-1
    X'K^-1, the error is (P z)_i / P_ii and the variance scale2 / P_ii.
    """
    row_w, col_w, noise_w = shares
    (rind, _), (cind, _) = by_row, by_col
    n, p = design.shape
    inverse = np.linalg.inv(row_w * rind @ rind.T + col_w * cind @ cind.T + noise_w * np.eye(n))
    k_x = inverse @ design
    proj = inverse - k_x @ np.linalg.solve(design.T @ k_x, k_x.T)
    pz = proj @ z
    scale2 = max(float(z @ pz) / max(n - p, 1), 1e-12)
    return pz / np.sqrt(np.maximum(np.diag(proj), 1e-12) * scale2)


def _calibration(cells: Cells, by_row: Lines, by_col: Lines, design: np.ndarray, shares) -> float:
    """Factor on the std that puts 68.3% of the leave-one-out errors within +-1 std.

    Only cells whose row and column keep another trained cell are left out (like a cell to
    predict, which has a trained row and column); 1 with fewer than MIN_CALIBRATION_CELLS such.
    """
    n_rows, n_cols = cells.counts()
    linked = (n_rows[cells.rows] > 1) & (n_cols[cells.cols] > 1)
    if linked.sum() < MIN_CALIBRATION_CELLS or len(cells) <= design.shape[1] + 1:
        return 1.0
    z = _loo_z(by_row, by_col, cells.values, design, shares)[linked]
    return float(max(np.quantile(np.abs(z), ONE_STD_SHARE), 1e-6))


def _check(observed: np.ndarray) -> np.ndarray:
    """``observed`` as floats; ValueError when it holds no trained cell."""
    observed = np.asarray(observed, float)
    if not np.isfinite(observed).any():
        raise ValueError("random_effects needs at least one trained cell")
    return observed


def equal_shares(observed: np.ndarray) -> Completion:
    """The plain shared-scale ridge bias model (lambda = 1) with its random-effects std.

    One location and scale for every column; row, column and noise variance each one third:
    the posterior mean is the row + column ridge fit with lambda = 1, the std adds the noise and
    each effect's posterior variance. Linear in the number of cells, so it serves any grid size.
    """
    observed = _check(observed)
    known = np.isfinite(observed)
    cells = Cells.from_matrix(observed)
    loc, spread = float(cells.values.mean()), float(cells.values.std())
    scale = spread if spread > 0 else (SINGLE_CELL_SCALE * abs(loc) or 1.0)
    z = Cells(cells.rows, cells.cols, (cells.values - loc) / scale, cells.shape)
    n_rows, n_cols = z.counts()
    var = EQUAL_SHARE * (1 + 1 / (n_rows[:, None] + 1) + 1 / (n_cols[None, :] + 1) + 1 / len(z))
    mean = np.where(known, observed, fit_bias(z, reg=1.0).predict() * scale + loc)
    std = np.where(known, 0.0, np.sqrt(var) * scale)
    return Completion(mean, std, "bias", float("nan"), params={"reg": 1.0, "scaling": "shared"},
                      offsets_in_std=True)  # fmt: skip


def random_effects(observed: np.ndarray) -> Completion:
    """Posterior mean and predictive std of every cell, averaged over the variance shares.

    Above ``MAX_CELLS`` trained cells the exact solve is too slow and ``equal_shares`` serves.
    """
    observed = _check(observed)
    known = np.isfinite(observed)
    if known.sum() > MAX_CELLS:
        return equal_shares(observed)
    scales = Scales.fit(observed)
    cells = Cells.from_matrix((observed - scales.center) / scales.scale)
    design = np.zeros((len(cells), int(scales.group.max()) + 1))
    design[np.arange(len(cells)), scales.group[cells.cols]] = 1.0
    by_row, by_col = _indicators(cells.rows), _indicators(cells.cols)
    grid = [(noise, share) for noise in NOISE_SHARES for share in ROW_SHARES]
    fits = [
        _posterior(
            by_row,
            by_col,
            cells.values,
            design,
            scales.group,
            cells.shape,
            ((1 - noise) * share, (1 - noise) * (1 - share), noise),
        )
        for noise, share in grid
    ]
    loglik = np.array([f[2] for f in fits])
    weight = np.exp(loglik - loglik.max())
    weight /= weight.sum()
    mean = sum(w * f[0] for w, f in zip(weight, fits))
    second = sum(w * (f[1] + f[0] ** 2) for w, f in zip(weight, fits))
    std = np.sqrt(np.maximum(second - mean**2, 0.0)) * scales.scale[None, :]
    mean = np.where(known, observed, mean * scales.scale[None, :] + scales.center[None, :])
    std[known] = 0.0
    best = int(np.argmax(weight))
    noise, share = grid[best]
    shares = ((1 - noise) * share, (1 - noise) * (1 - share), noise)
    factor = _calibration(cells, by_row, by_col, design, shares)
    std *= factor
    own = int((scales.group > 0).sum() if (scales.group == 0).any() else scales.group.size)
    params = {"noise_share": noise, "row_share": share, "weight": float(weight[best]),
              "calibration": factor, "own_scale_columns": own}  # fmt: skip
    return Completion(mean, std, METHOD, float("nan"), params=params, offsets_in_std=True)
