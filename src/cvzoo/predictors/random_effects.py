"""What the guided search believes while the grid is too sparse to cross-validate a completion.

The two-way random-effects model ``y = mu + a_row + b_col + e`` (Gaussian; flat prior on mu),
solved exactly as a Gaussian process on the trained cells. Row, column and noise shares of the
variance are not guessed: every pair on a small grid is weighed by its restricted likelihood and
the predictions are averaged (on a design where no two cells share a line every pair fits
equally well, so rows and columns count alike). Unlike column-centred completion, a column
trained once does not absorb its cell's whole deviation, so row effects are learned from the
first linked cells on.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from cvzoo.predictors.bias import Cells, fit_bias
from cvzoo.predictors.fitted import Completion

METHOD = "random_effects"

# Candidate variance shares: noise, and the row part of what is left (the rest is the column's).
NOISE_SHARES = (0.05, 0.2)
ROW_SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
# Spread assumed while the trained cells have none (one cell): 1% of |value| (or 1).
SINGLE_CELL_SCALE = 0.01
# Trained cells above which the exact solve (n x n per share) is too slow: ``equal_shares`` then
# serves (the same model with row, column and noise shares fixed at one third each).
MAX_CELLS = 1_000
EQUAL_SHARE = 1.0 / 3.0


def _indicators(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-hot (n, k) matrix of the trained cells' rows (or columns) over the k lines that hold
    a trained cell, and those lines' indices."""
    lines, position = np.unique(index, return_inverse=True)
    out = np.zeros((index.size, lines.size))
    out[np.arange(index.size), position] = 1.0
    return out, lines


def _per_line(values: np.ndarray, lines: np.ndarray, size: int) -> np.ndarray:
    """Spread per-line values over all ``size`` lines (0 for lines without a trained cell)."""
    out = np.zeros(size)
    out[lines] = values
    return out


Lines = tuple[np.ndarray, np.ndarray]  # one-hot matrix and line indices, see _indicators


def _posterior(
    by_row: Lines,
    by_col: Lines,
    z: np.ndarray,
    shape: tuple[int, int],
    row_w: float,
    col_w: float,
    noise_w: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, variance (standardized units) and log restricted likelihood for one set of shares."""
    n = z.size
    (rind, row_lines), (cind, col_lines) = by_row, by_col
    kernel = row_w * rind @ rind.T + col_w * cind @ cind.T + noise_w * np.eye(n)
    factor = cho_factor(kernel)
    k_one = cho_solve(factor, np.ones(n))
    total = k_one.sum()
    mu = float(k_one @ z / total)
    alpha = cho_solve(factor, z - mu)
    if n > 1:
        scale2 = max(float((z - mu) @ alpha) / (n - 1), 1e-12)
        loglik = -(n - 1) / 2 * np.log(scale2) - np.log(np.diag(factor[0])).sum() - np.log(total) / 2
    else:
        scale2, loglik = 1.0, 0.0
    k_rows, k_cols = cho_solve(factor, rind), cho_solve(factor, cind)  # K^-1 R, K^-1 C

    def spread(row_values: np.ndarray, col_values: np.ndarray) -> np.ndarray:
        """row term[:, None] + col term[None, :] over the whole grid."""
        row_part = _per_line(row_values, row_lines, shape[0])
        return row_part[:, None] + _per_line(col_values, col_lines, shape[1])[None, :]

    mean = mu + spread(row_w * (rind.T @ alpha), col_w * (cind.T @ alpha))
    explained = spread(
        row_w**2 * np.einsum("nr,nr->r", rind, k_rows), col_w**2 * np.einsum("nc,nc->c", cind, k_cols)
    )
    explained[np.ix_(row_lines, col_lines)] += 2 * row_w * col_w * (rind.T @ k_cols)
    shared = spread(row_w * (rind.T @ k_one), col_w * (cind.T @ k_one))
    var = scale2 * (row_w + col_w + noise_w - explained + (1 - shared) ** 2 / total)
    return mean, np.maximum(var, 1e-12 * scale2), loglik


def _shared_scale(observed: np.ndarray) -> tuple[np.ndarray, Cells, float, float]:
    """Known mask, trained cells and the one location/scale every column shares."""
    observed = np.asarray(observed, float)
    known = np.isfinite(observed)
    if not known.any():
        raise ValueError("random_effects needs at least one trained cell")
    cells = Cells.from_matrix(observed)
    loc, spread = float(cells.values.mean()), float(cells.values.std())
    scale = spread if spread > 0 else (SINGLE_CELL_SCALE * abs(loc) or 1.0)
    return known, cells, loc, scale


def equal_shares(observed: np.ndarray) -> Completion:
    """The plain shared-scale ridge bias model (lambda = 1) with its random-effects std.

    Row, column and noise variance each one third of the trained cells' variance: the posterior
    mean is the row + column ridge fit with lambda = 1, the std adds the noise and each effect's
    posterior variance. Linear in the number of cells, so it serves grids of any size.
    """
    observed = np.asarray(observed, float)
    known, cells, loc, scale = _shared_scale(observed)
    z = Cells(cells.rows, cells.cols, (cells.values - loc) / scale, cells.shape)
    model = fit_bias(z, reg=1.0)
    n_rows, n_cols = z.counts()
    var = EQUAL_SHARE * (1 + 1 / (n_rows[:, None] + 1) + 1 / (n_cols[None, :] + 1) + 1 / len(z))
    mean = np.where(known, observed, model.predict() * scale + loc)
    std = np.where(known, 0.0, np.sqrt(var) * scale)
    return Completion(mean, std, "bias", float("nan"), params={"reg": 1.0, "scaling": "shared"},
                      offsets_in_std=True)  # fmt: skip


def random_effects(observed: np.ndarray) -> Completion:
    """Posterior mean and predictive std of every cell, averaged over the variance shares.

    Above ``MAX_CELLS`` trained cells the exact solve is too slow and ``equal_shares`` serves.
    """
    observed = np.asarray(observed, float)
    known, cells, loc, scale = _shared_scale(observed)
    if len(cells) > MAX_CELLS:
        return equal_shares(observed)
    z = (cells.values - loc) / scale
    by_row, by_col = _indicators(cells.rows), _indicators(cells.cols)
    grid = [(noise, share) for noise in NOISE_SHARES for share in ROW_SHARES]
    fits = [
        _posterior(by_row, by_col, z, cells.shape, (1 - noise) * share, (1 - noise) * (1 - share), noise)
        for noise, share in grid
    ]
    loglik = np.array([f[2] for f in fits])
    weight = np.exp(loglik - loglik.max())
    weight /= weight.sum()
    mean = sum(w * f[0] for w, f in zip(weight, fits))
    second = sum(w * (f[1] + f[0] ** 2) for w, f in zip(weight, fits))
    std = np.sqrt(np.maximum(second - mean**2, 0.0)) * scale
    mean = np.where(known, observed, mean * scale + loc)
    std[known] = 0.0
    best = int(np.argmax(weight))
    params = {"noise_share": grid[best][0], "row_share": grid[best][1], "weight": float(weight[best])}
    return Completion(mean, std, METHOD, float("nan"), params=params, offsets_in_std=True)
