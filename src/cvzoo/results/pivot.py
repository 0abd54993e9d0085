"""Records pivoted over two keys into a QualityMatrix, seeds aggregated (mean, std, n)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cvzoo.errors import ConfigError
from cvzoo.results.quality_matrix import FAILED, NOT_RUN, TRAINED, QualityMatrix
from cvzoo.results.record import get_value
from cvzoo.results.store import check_key

FAILED_STATUSES = ("failed", "diverged")
# Keys that define a cell besides the two pivoted ones; if one varies, cells average over it.
CELL_KEYS = (
    "task", "dataset", "backbone", "head", "fraction", "epochs",
    "augmentation", "optimizer", "scheduler",
)  # fmt: skip


def label(value: Any) -> str:
    """The row/column label of a key value (``0.5`` -> ``"0.5"``, config nodes by their name)."""
    if isinstance(value, Mapping) and "name" in value:
        value = value["name"]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _sort_labels(values: Sequence[Any]) -> list[str]:
    """Sorted unique labels: numerically when every value is a number, else alphabetically."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ordered = sorted(set(values), key=float) if numeric else sorted(set(map(label, values)))
    return list(dict.fromkeys(map(label, ordered)))


def _metric_value(record: Mapping[str, Any], metric: str) -> float | None:
    """The finite float metric of a record, else None."""
    value = get_value(record, metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dedupe(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Keep the first finished record per (config_hash, seed): re-runs replace, seeds aggregate."""
    kept, seen = [], set()
    for record in records:
        if record.get("status") == "running":  # in progress (or killed): never counts
            continue
        key = (record.get("config_hash"), record.get("seed"))
        if key[0] is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append(record)
    return kept


def mixed_keys(records: Sequence[Mapping[str, Any]], rows: str, cols: str) -> dict[str, list[str]]:
    """Cell keys other than rows/cols that take several values among the records."""
    mixed = {}
    for key in CELL_KEYS:
        if key in (rows, cols):
            continue
        present = [get_value(r, key) for r in records if get_value(r, key) is not None]
        labels = _sort_labels(present) if present else []
        if len(labels) > 1:
            mixed[key] = labels
    return mixed


def pivot_records(records: Sequence[Mapping[str, Any]], rows: str, cols: str, metric: str) -> QualityMatrix:
    """Pivot records into a QualityMatrix; rows/columns are sorted (numbers numerically)."""
    records = list(records)
    check_key(records, rows)
    check_key(records, cols)
    check_key(records, metric, what="metric")
    usable = [
        r for r in _dedupe(records) if get_value(r, rows) is not None and get_value(r, cols) is not None
    ]
    row_labels = _sort_labels([get_value(r, rows) for r in usable])
    col_labels = _sort_labels([get_value(r, cols) for r in usable])
    values: dict[tuple[str, str], list[float]] = {}
    broken: set[tuple[str, str]] = set()
    for record in usable:
        cell = (label(get_value(record, rows)), label(get_value(record, cols)))
        value = _metric_value(record, metric)
        if record.get("status") == "ok" and value is not None:
            values.setdefault(cell, []).append(value)
        elif record.get("status") in FAILED_STATUSES:
            broken.add(cell)
    shape = (len(row_labels), len(col_labels))
    mean, std, count = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, int)
    failed = np.zeros(shape, bool)
    for i, row in enumerate(row_labels):
        for j, col in enumerate(col_labels):
            cell_values = values.get((row, col), [])
            count[i, j] = len(cell_values)
            if cell_values:
                mean[i, j] = float(np.mean(cell_values))
                std[i, j] = float(np.std(cell_values, ddof=1)) if len(cell_values) > 1 else np.nan
            failed[i, j] = not cell_values and (row, col) in broken
    status = np.where(count > 0, TRAINED, np.where(failed, FAILED, NOT_RUN)).astype(object)
    return QualityMatrix(row_labels, col_labels, mean, rows, cols, metric, std, count, status,
                         mixed=mixed_keys(usable, rows, cols))  # fmt: skip


def default_metric(records: Sequence[Mapping[str, Any]]) -> str:
    """The metric most records monitor (their ``monitor`` field); ConfigError when none says."""
    monitors = Counter(r.get("monitor") for r in records if r.get("monitor"))
    if not monitors:
        raise ConfigError("records name no monitored metric; pass --metric, e.g. --metric val/acc")
    return monitors.most_common(1)[0][0]
