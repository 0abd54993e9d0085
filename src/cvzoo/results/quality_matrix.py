"""The quality matrix: one labelled type for pivoted, read, completed and guided matrices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TRAINED, EARLIER, PREDICTED, FAILED, NOT_RUN = "trained", "earlier", "predicted", "failed", "not run"
STATUSES = (TRAINED, EARLIER, PREDICTED, FAILED, NOT_RUN)
MEASURED = (TRAINED, EARLIER)  # statuses whose value was measured, not predicted


@dataclass
class QualityMatrix:
    """Every cell of a rows x cols grid: value, std, seed count and status (one of STATUSES).

    ``std`` is the spread over seeds on measured cells and the predictive std on predicted ones;
    ``winner`` is the best measured cell under ``direction`` (``max`` or ``min``); ``labels`` name
    what a cell's value belongs to when a cell holds several configurations (its best recipe).
    """

    rows: list[str]
    cols: list[str]
    values: np.ndarray
    row_key: str = ""
    col_key: str = ""
    metric: str = ""
    std: np.ndarray | None = None
    count: np.ndarray | None = None
    status: np.ndarray | None = None
    direction: str = "max"
    winner: tuple[int, int] | None = None
    mixed: dict[str, list[str]] = field(default_factory=dict)  # other cell keys that vary
    summary: dict[str, Any] = field(default_factory=dict)  # search facts (regret, stop reason)
    labels: np.ndarray | None = None  # per-cell text, e.g. the recipe shown (empty: none)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float)
        shape = self.values.shape
        known = np.isfinite(self.values)
        self.std = np.full(shape, np.nan) if self.std is None else np.asarray(self.std, dtype=float)
        self.count = known.astype(int) if self.count is None else np.asarray(self.count, dtype=int)
        if self.status is None:
            self.status = np.where(known, TRAINED, NOT_RUN).astype(object)
        if self.labels is None:
            self.labels = np.full(shape, "", dtype=object)

    def frame(self, name: str = "values") -> pd.DataFrame:
        """One field (``values``, ``std``, ``count``, ``status``) as a labelled DataFrame."""
        out = pd.DataFrame(getattr(self, name), index=list(self.rows), columns=list(self.cols))
        out.index.name, out.columns.name = self.row_key or None, self.col_key or None
        return out

    def with_values(self, values: np.ndarray, std: np.ndarray | None = None) -> QualityMatrix:
        """The same labels with other values (and std), every cell measured."""
        return QualityMatrix(list(self.rows), list(self.cols), values, self.row_key, self.col_key,
                             self.metric, std, direction=self.direction)  # fmt: skip

    def completed(self, mean: np.ndarray, std: np.ndarray) -> QualityMatrix:
        """This matrix with its not-run cells filled by predictions (status ``predicted``)."""
        todo = self.status == NOT_RUN
        values, spread, status = self.values.copy(), self.std.copy(), self.status.copy()
        values[todo], spread[todo], status[todo] = np.asarray(mean)[todo], np.asarray(std)[todo], PREDICTED
        return QualityMatrix(list(self.rows), list(self.cols), values, self.row_key, self.col_key,
                             self.metric, spread, self.count.copy(), status, self.direction,
                             self.winner, dict(self.mixed), dict(self.summary),
                             self.labels.copy())  # fmt: skip

    def best_measured(self) -> tuple[int, int] | None:
        """The (row, col) of the best measured cell under ``direction``, None when none is."""
        measured = np.isin(self.status, MEASURED) & np.isfinite(self.values)
        if not measured.any():
            return None
        sign = -1.0 if self.direction == "min" else 1.0
        scores = np.where(measured, sign * self.values, -np.inf)
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return int(i), int(j)

    def cells(self) -> list[dict[str, Any]]:
        """One dict per cell (labels, status, value, predicted std) for JSON summaries."""
        out = []
        for (i, j), status in np.ndenumerate(self.status):
            value, std = self.values[i, j], self.std[i, j]
            out.append({
                self.row_key: self.rows[i], self.col_key: self.cols[j], "status": str(status),
                "value": float(value) if np.isfinite(value) else None,
                "std": float(std) if status == PREDICTED and np.isfinite(std) else None,
                **({"recipe": str(self.labels[i, j])} if self.labels[i, j] else {}),
            })  # fmt: skip
        return out
