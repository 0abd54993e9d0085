"""A factor model of final values over configurations: row, column (or factor) effects, own part.

``y = mu + a_row + h(config) + e_config``, Gaussian, where ``h`` is a column effect, or, when the
configurations carry factor columns (optimizer, learning rate, ...), a random function shared by
configurations in proportion to the factors they have in common. Observations may carry their
own extra variance (a partial curve's extrapolation), so trained and half-trained configurations
are weighed by how sure their values are. Variance shares are chosen by restricted likelihood
on a small grid (values standardized by their spread); the fit is exact (a Gaussian process on
the observed configurations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

# Candidate shares: the configuration's own part, and the row part of what is left.
OWN_SHARES = (0.05, 0.2, 0.5)
ROW_SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
JITTER = 1e-9


def shared_kernels(rows: np.ndarray, cols: np.ndarray, factors: np.ndarray | None) -> tuple:
    """(row kernel, config kernel) over all configurations: 1 where they share the level.

    The config kernel is the share of factor columns two configurations have in common, or,
    without factor columns, 1 for the same column.
    """
    row_k = (rows[:, None] == rows[None, :]).astype(float)
    if factors is not None and factors.shape[1] > 0:
        same = factors[:, None, :] == factors[None, :, :]
        return row_k, same.mean(axis=2)
    return row_k, (cols[:, None] == cols[None, :]).astype(float)


@dataclass
class FactorPosterior:
    """Posterior mean and std of every configuration's final value, and the shares chosen."""

    mean: np.ndarray
    std: np.ndarray
    shares: tuple[float, float]


class FactorModel:
    """Exact posterior of the factor model on observed configurations (see module docstring)."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, factors: np.ndarray | None = None):
        self.row_k, self.cfg_k = shared_kernels(np.asarray(rows), np.asarray(cols), factors)
        self.shares: tuple[float, float] | None = None

    def _prior(self, own: float, row: float) -> np.ndarray:
        """Prior covariance (standardized units) between every pair of configurations."""
        w_row, w_cfg = (1 - own) * row, (1 - own) * (1 - row)
        return w_row * self.row_k + w_cfg * self.cfg_k + own * np.eye(self.row_k.shape[0])

    def _solve(self, prior: np.ndarray, obs: np.ndarray, z: np.ndarray, extra: np.ndarray):
        """GLS mean, posterior mean/var over all configurations, and log restricted likelihood."""
        n = obs.size
        kernel = prior[np.ix_(obs, obs)] + np.diag(extra + JITTER)
        factor = cho_factor(kernel)
        k_one = cho_solve(factor, np.ones(n))
        total = float(k_one.sum())
        mu = float(k_one @ z / total)
        alpha = cho_solve(factor, z - mu)
        cross = prior[:, obs]
        mean = mu + cross @ alpha
        solved = cho_solve(factor, cross.T)
        shared = cross @ k_one
        var = np.diag(prior) - np.einsum("ni,in->n", cross, solved) + (1 - shared) ** 2 / total
        loglik = -0.5 * float((z - mu) @ alpha) - np.log(np.diag(factor[0])).sum() - np.log(total) / 2
        return mean, np.maximum(var, 0.0), loglik

    def fit(
        self, obs: np.ndarray, values: np.ndarray, extra_var: np.ndarray, refit: bool = True
    ) -> FactorPosterior:
        """Posterior of all configurations from ``values`` of configurations ``obs`` (with their
        extra variance); ``refit=False`` keeps the shares of the last fit."""
        obs, values = np.asarray(obs, int), np.asarray(values, float)
        loc = float(values.mean())
        spread = float(np.sqrt(values.var() + extra_var.mean())) if values.size > 1 else 0.0
        scale = spread if spread > 0 else (0.01 * abs(loc) or 1.0)
        z, extra = (values - loc) / scale, np.asarray(extra_var, float) / scale**2
        grid = [(o, r) for o in OWN_SHARES for r in ROW_SHARES]
        if not refit and self.shares is not None:
            grid = [self.shares]
        best = None
        for own, row in grid:
            mean, var, loglik = self._solve(self._prior(own, row), obs, z, extra)
            if best is None or loglik > best[2]:
                best = (mean, var, loglik, (own, row))
        mean, var, _, self.shares = best
        std = np.sqrt(var) * scale
        return FactorPosterior(mean * scale + loc, std, self.shares)
