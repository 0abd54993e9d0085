"""The two-way random-effects model: the quality model while a grid is too sparse to cross-validate.

``y = c + a_row + b_col + e`` (Gaussian, mean-centred), solved exactly as a Gaussian process on
the trained cells. Scales: a column measured in another unit (enough trained cells, spread far
from the typical column's) is standardized on its own; all other columns share one location and
scale. Variance shares: the row effect and the noise keep equal shares, which is the plain
lambda = 1 bias model's transfer of a row's gap to other columns (a sparse grid cannot show how
much of a backbone's gap carries over to a head measured on one or two backbones). The column
share, the level of each column, is learned: when the likelihood says columns differ by far more
than the equal split allows (datasets or tasks at very different levels), larger column shares
are weighed by their likelihood and averaged; otherwise the equal split, the bias model, stays.
The std is calibrated on the trained cells' leave-one-out errors (``std_calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from cvzoo.predictors.bias import Cells, fit_bias
from cvzoo.predictors.fitted import Completion
from cvzoo.predictors.std_calibration import calibration

METHOD = "random_effects"

# Candidate column shares of the variance (row effect and noise split the rest equally); the first
# is the equal split, the bias model. Larger ones are used only when the likelihood prefers them by
# more than EVIDENCE nats: the 95% likelihood-ratio test of one parameter (chi-square 3.84 / 2).
EQUAL_SHARE = 1.0 / 3.0
COLUMN_SHARES = (EQUAL_SHARE, 0.5, 0.7, 0.9, 0.97)
EVIDENCE = 1.92
# Spread assumed while the trained cells have none (one cell): 1% of |value| (or 1).
SINGLE_CELL_SCALE = 0.01
# A column gets its own location and scale when it holds at least OWN_SCALE_CELLS
# trained cells and its spread differs from the typical column's by more than UNIT_RATIO: then it
# is measured in another unit. Within one unit, spreads differ by the rows a column was trained
# with (a column of strong backbones only is narrow), which a shared scale keeps comparable.
OWN_SCALE_CELLS = 10
UNIT_RATIO = 4.0
# Trained cells above which the exact solve (n x n per share) is too slow: ``equal_shares`` then
# serves (the same model with row, column and noise shares fixed at one third each).
MAX_CELLS = 1_000

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
    """Per-column location and scale; ``own`` marks columns standardized on their own."""

    center: np.ndarray
    scale: np.ndarray
    own: np.ndarray

    @classmethod
    def fit(cls, observed: np.ndarray) -> Scales:
        """Own mean/std for columns with enough trained cells in another unit, one shared pair else."""
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
        if (~own).any() and not known[:, ~own].any():  # the shared location would have no cell
            own[:] = False
        values = observed[:, ~own][known[:, ~own]] if (~own).any() else np.zeros(0)
        loc = float(values.mean()) if values.size else 0.0
        spread = float(values.std()) if values.size else 0.0
        shared = spread if spread > 0 else (SINGLE_CELL_SCALE * abs(loc) or 1.0)
        center = np.full(observed.shape[1], loc)
        scale = np.full(observed.shape[1], shared)
        center[own], scale[own] = col_mean[own], col_std[own]
        return cls(center, scale, own)


def _shares(column: float) -> tuple[float, float, float]:
    """(row, column, noise) variance shares for one column share; row and noise split the rest."""
    rest = (1.0 - column) / 2.0
    return rest, column, rest


def _kernel(by_row: Lines, by_col: Lines, shares) -> np.ndarray:
    """Covariance of the trained cells over the scale: shares of shared row, shared column, noise."""
    row_w, col_w, noise_w = shares
    (rind, _), (cind, _) = by_row, by_col
    return row_w * rind @ rind.T + col_w * cind @ cind.T + noise_w * np.eye(rind.shape[0])


def _posterior(by_row: Lines, by_col: Lines, z: np.ndarray, shape, shares):
    """Mean, variance (standardized units) and log likelihood (scale profiled out) for one set of shares."""
    row_w, col_w, noise_w = shares
    n = z.size
    (rind, row_lines), (cind, col_lines) = by_row, by_col
    factor = cho_factor(_kernel(by_row, by_col, shares))
    alpha = cho_solve(factor, z)
    scale2 = max(float(z @ alpha) / n, 1e-12) if n > 1 else 1.0
    loglik = -n / 2 * np.log(scale2) - np.log(np.diag(factor[0])).sum()
    k_rows, k_cols = cho_solve(factor, rind), cho_solve(factor, cind)  # K^-1 R, K^-1 C

    def spread(row_values: np.ndarray, col_values: np.ndarray) -> np.ndarray:
        """row term[:, None] + col term[None, :] over the whole grid."""
        return _per_line(row_values, row_lines, shape[0])[:, None] + _per_line(
            col_values, col_lines, shape[1]
        )

    mean = spread(row_w * (rind.T @ alpha), col_w * (cind.T @ alpha))
    explained = spread(
        row_w**2 * np.einsum("nr,nr->r", rind, k_rows), col_w**2 * np.einsum("nc,nc->c", cind, k_cols)
    )
    explained[np.ix_(row_lines, col_lines)] += 2 * row_w * col_w * (rind.T @ k_cols)
    var = scale2 * (row_w + col_w + noise_w - explained)
    return mean, np.maximum(var, 1e-12 * scale2), loglik


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
    """Posterior mean and predictive std of every cell, averaged over the column shares the data support.

    Above ``MAX_CELLS`` trained cells the exact solve is too slow and ``equal_shares`` serves.
    """
    observed = _check(observed)
    known = np.isfinite(observed)
    if known.sum() > MAX_CELLS:
        return equal_shares(observed)
    scales = Scales.fit(observed)
    cells = Cells.from_matrix((observed - scales.center) / scales.scale)
    by_row, by_col = _indicators(cells.rows), _indicators(cells.cols)
    fits = [_posterior(by_row, by_col, cells.values, cells.shape, _shares(c)) for c in COLUMN_SHARES]
    loglik = np.array([f[2] for f in fits])
    if loglik.max() - loglik[0] < EVIDENCE:  # no clear evidence against the equal split
        loglik[1:] = -np.inf
    weight = np.exp(loglik - loglik.max())
    weight /= weight.sum()
    mean = sum(w * f[0] for w, f in zip(weight, fits))
    second = sum(w * (f[1] + f[0] ** 2) for w, f in zip(weight, fits))
    std = np.sqrt(np.maximum(second - mean**2, 0.0)) * scales.scale[None, :]
    mean = np.where(known, observed, mean * scales.scale[None, :] + scales.center[None, :])
    std[known] = 0.0
    best = int(np.argmax(weight))
    factors, pooled = calibration(cells, _kernel(by_row, by_col, _shares(COLUMN_SHARES[best])))
    std *= factors
    params = {"column_share": COLUMN_SHARES[best], "weight": float(weight[best]),
              "calibration": pooled, "own_scale_columns": int(scales.own.sum())}  # fmt: skip
    return Completion(mean, std, METHOD, float("nan"), params=params, offsets_in_std=True)
