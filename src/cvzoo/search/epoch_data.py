"""Per-epoch learning curves of many configurations, read from a long CSV, one set per task.

The file has columns ``task,row,col,epoch,value`` (higher is better, epoch 1-based, a curve ends
where its run ended). An optional per-(task, col) table gives each configuration's factor columns
(optimizer, learning rate, ...); they become integer codes the factor model shares effects over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cvzoo.errors import DataError

CURVE_COLUMNS = ("task", "row", "col", "epoch", "value")
# Columns of a configs table that record a run's outcome or cost, not its setting: never factors.
OUTCOME_COLUMNS = ("n_epochs", "mean_epoch_time_s")
# A numeric factor with more distinct values than this is binned into this many quantile bins.
MAX_LEVELS = 8


@dataclass
class CurveSet:
    """The learning curves of one task: one configuration per (row, col) pair."""

    task: str
    rows: list[str]
    cols: list[str]
    row_index: np.ndarray
    col_index: np.ndarray
    curves: list[np.ndarray]
    factors: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of configurations."""
        return len(self.curves)

    @property
    def lengths(self) -> np.ndarray:
        """Epochs each curve runs for."""
        return np.array([c.size for c in self.curves])

    @property
    def max_epochs(self) -> int:
        """The full training length: the longest curve."""
        return int(self.lengths.max())

    @property
    def total_epochs(self) -> int:
        """Epochs needed to train every configuration to its end."""
        return int(self.lengths.sum())

    @property
    def true_values(self) -> np.ndarray:
        """Each configuration's best value over its whole curve (what ``best.ckpt`` keeps)."""
        return np.array([c.max() for c in self.curves])


def _codes(column: pd.Series) -> np.ndarray:
    """Integer level codes of one factor column (many-valued numbers go into quantile bins)."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().all() and numeric.nunique() > MAX_LEVELS:
        scale = np.log(numeric) if (numeric > 0).all() else numeric
        return pd.qcut(scale, MAX_LEVELS, labels=False, duplicates="drop").to_numpy(int)
    return pd.factorize(column.astype(str))[0]


def _factor_codes(configs: pd.DataFrame, task: str, cols: list[str], path: str) -> np.ndarray:
    """(n_configs, n_factors) codes for ``cols`` of ``task`` from the configs table."""
    table = configs[configs["task"].astype(str) == task].drop_duplicates("col")
    table = table.set_index(table["col"].astype(str))
    missing = [c for c in cols if c not in table.index]
    if missing:
        raise DataError(f"{path} has no row for task {task!r}, col {missing[0]!r}; add it")
    skip = {"task", "col", "row", *OUTCOME_COLUMNS}
    names = [n for n in table.columns if n not in skip]
    table = table.loc[cols, names]
    keep = [n for n in names if table[n].astype(str).nunique() > 1]
    if not keep:
        return np.zeros((len(cols), 0), int)
    return np.stack([_codes(table[n]) for n in keep], axis=1)


def _task_curves(group: pd.DataFrame, task: str) -> CurveSet:
    """One task's curves, each sorted by epoch."""
    group = group.sort_values(["row", "col", "epoch"])
    keys, curves = [], []
    for (row, col), g in group.groupby(["row", "col"], sort=True):
        epochs = g["epoch"].to_numpy()
        if not np.array_equal(epochs, np.arange(1, epochs.size + 1)):
            raise DataError(f"task {task!r}, row {row!r}, col {col!r}: epochs must be 1, 2, 3, ... once each")
        keys.append((str(row), str(col)))
        curves.append(g["value"].to_numpy(float))
    rows = sorted({r for r, _ in keys})
    cols = sorted({c for _, c in keys})
    row_index = np.array([rows.index(r) for r, _ in keys])
    col_index = np.array([cols.index(c) for _, c in keys])
    return CurveSet(task, rows, cols, row_index, col_index, curves)


def read_curves(path: str, configs: str | None = None, task: str | None = None) -> list[CurveSet]:
    """Read ``task,row,col,epoch,value`` curves (and factor columns) into one set per task."""
    try:
        table = pd.read_csv(path, dtype={"task": str, "row": str, "col": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read curves {path!r}: {err}; give a CSV file") from err
    missing = [c for c in CURVE_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {', '.join(missing)}; need {','.join(CURVE_COLUMNS)}")
    table = table[np.isfinite(pd.to_numeric(table["value"], errors="coerce"))]
    if task is not None:
        if task not in set(table["task"]):
            raise DataError(f"--task {task!r} is not in {path}; it has {sorted(set(table['task']))}")
        table = table[table["task"] == task]
    if table.empty:
        raise DataError(f"{path} holds no finite values; need task,row,col,epoch,value rows")
    table_cfg = None if configs is None else _read_configs(configs)
    sets = []
    for name, group in table.groupby("task", sort=True):
        curve_set = _task_curves(group, str(name))
        if table_cfg is not None:
            cols = [curve_set.cols[j] for j in curve_set.col_index]
            curve_set.factors = _factor_codes(table_cfg, str(name), cols, str(configs))
        sets.append(curve_set)
    return sets


def _read_configs(path: str) -> pd.DataFrame:
    """The configs table, with its ``task`` and ``col`` columns checked."""
    try:
        table = pd.read_csv(path, dtype={"task": str, "col": str, "row": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read --configs {path!r}: {err}; give a CSV file") from err
    if "task" not in table.columns or "col" not in table.columns:
        raise DataError(f"--configs {path} needs columns task and col (one row per configuration)")
    return table
