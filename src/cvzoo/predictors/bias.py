"""Observed cells as coordinate arrays, and the regularised bias model mu + b_row + b_col."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Cells:
    """Observed cells of an (R, C) matrix as coordinate arrays (row index, column index, value)."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def from_matrix(cls, observed: np.ndarray) -> Cells:
        """Collect the finite cells of ``observed`` (NaN = unknown) in row-major order."""
        ri, ci = np.nonzero(np.isfinite(observed))
        return cls(ri, ci, observed[ri, ci].astype(float), observed.shape)

    def subset(self, keep: np.ndarray) -> Cells:
        """Return the cells selected by a boolean or index array."""
        return Cells(self.rows[keep], self.cols[keep], self.values[keep], self.shape)

    def take_rows(self, rows: np.ndarray) -> tuple[Cells, np.ndarray]:
        """Cells of the given rows only (renumbered 0..len(rows)-1) and their selection mask."""
        new_index = np.full(self.shape[0], -1)
        new_index[rows] = np.arange(rows.size)
        mask = new_index[self.rows] >= 0
        picked = Cells(
            new_index[self.rows[mask]],
            self.cols[mask],
            self.values[mask],
            (rows.size, self.shape[1]),
        )
        return picked, mask

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Number of observed cells per row and per column."""
        return (
            np.bincount(self.rows, minlength=self.shape[0]),
            np.bincount(self.cols, minlength=self.shape[1]),
        )

    def __len__(self) -> int:
        """Number of observed cells."""
        return int(self.values.size)


@dataclass
class BiasModel:
    """Prediction mu + row[i] + col[j]; biases shrunk towards 0 like ``reg`` pseudo-cells."""

    mu: float
    row: np.ndarray
    col: np.ndarray

    def predict(self) -> np.ndarray:
        """Every cell of the matrix."""
        return self.mu + self.row[:, None] + self.col[None, :]

    def predict_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The cells at the given coordinates."""
        return self.mu + self.row[rows] + self.col[cols]


def fit_bias(cells: Cells, reg: float = 1.0, n_iter: int = 25, tol: float = 1e-4) -> BiasModel:
    """Fit global, row and column biases by alternating ridge updates (closed form per side)."""
    n_rows, n_cols = cells.counts()
    mu = float(cells.values.mean()) if len(cells) else 0.0
    row = np.zeros(cells.shape[0])
    col = np.zeros(cells.shape[1])
    resid = cells.values - mu
    for _ in range(n_iter):
        r = resid - col[cells.cols]
        new_row = np.bincount(cells.rows, r, minlength=row.size) / (n_rows + reg)
        r = resid - new_row[cells.rows]
        new_col = np.bincount(cells.cols, r, minlength=col.size) / (n_cols + reg)
        change = max(np.abs(new_row - row).max(initial=0), np.abs(new_col - col).max(initial=0))
        row, col = new_row, new_col
        if change < tol:
            break
    return BiasModel(mu, row, col)
