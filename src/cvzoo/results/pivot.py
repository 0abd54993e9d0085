"""The quality matrix: records pivoted over two keys, seeds aggregated (mean, std, n)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvzoo.errors import ConfigError
from cvzoo.results.record import get_value
from cvzoo.results.store import check_key

FAILED_STATUSES = ("failed", "diverged")
FAILED_MARK = "failed"
MISSING_MARK = "—"
# Keys that define a cell besides the two pivoted ones; if one varies, cells average over it.
CELL_KEYS = (
    "task", "dataset", "backbone", "head", "fraction", "epochs",
    "augmentation", "optimizer", "scheduler",
)  # fmt: skip


@dataclass
class QualityMatrix:
    """Mean/std/count of ``metric`` per (row value, column value) cell, plus failed cells."""

    mean: pd.DataFrame
    std: pd.DataFrame
    count: pd.DataFrame
    failed: pd.DataFrame
    rows: str
    cols: str
    metric: str
    mixed: dict[str, list[str]] = field(default_factory=dict)  # other cell keys that vary


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

    def frame(data: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(data, index=row_labels, columns=col_labels)
        out.index.name, out.columns.name = rows, cols
        return out

    mixed = mixed_keys(usable, rows, cols)
    frames = frame(mean), frame(std), frame(count), frame(failed)
    return QualityMatrix(*frames, rows=rows, cols=cols, metric=metric, mixed=mixed)


def default_metric(records: Sequence[Mapping[str, Any]]) -> str:
    """The metric most records monitor (their ``monitor`` field); ConfigError when none says."""
    monitors = Counter(r.get("monitor") for r in records if r.get("monitor"))
    if not monitors:
        raise ConfigError("records name no monitored metric; pass --metric, e.g. --metric val/acc")
    return monitors.most_common(1)[0][0]


def format_cell(mean: float, std: float, count: int, failed: bool, digits: int = 3) -> str:
    """One markdown cell: ``0.812 ± 0.004 (n=3)``, ``0.8 (n=1)``, ``failed`` or ``—``."""
    if failed:
        return FAILED_MARK
    if count == 0 or not math.isfinite(mean):
        return MISSING_MARK
    spread = f" ± {std:.{digits}f}" if math.isfinite(std) else ""
    return f"{mean:.{digits}f}{spread} (n={count})"


def to_markdown(matrix: QualityMatrix) -> str:
    """The matrix as a markdown table titled with the metric and the two keys."""
    header = [f"{matrix.rows} \\ {matrix.cols}", *map(str, matrix.mean.columns)]
    lines = [
        f"**{matrix.metric}** by {matrix.rows} × {matrix.cols} (mean ± std over seeds, n runs)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|",
    ]
    for row in matrix.mean.index:
        cells = [
            format_cell(
                matrix.mean.at[row, col],
                matrix.std.at[row, col],
                int(matrix.count.at[row, col]),
                bool(matrix.failed.at[row, col]),
            )
            for col in matrix.mean.columns
        ]
        lines.append("| " + " | ".join([str(row), *cells]) + " |")
    if matrix.mixed:
        lines += ["", mixed_note(matrix)]
    return "\n".join(lines) + "\n"


def mixed_note(matrix: QualityMatrix) -> str:
    """One line saying which other keys the cells average over and how to pin them."""
    varied = "; ".join(f"{k}={'|'.join(v[:5])}{'|…' if len(v) > 5 else ''}"
                       for k, v in matrix.mixed.items())  # fmt: skip
    key, values = next(iter(matrix.mixed.items()))
    return f"Note: the records also differ in {varied}; pin one with --where {key}={values[0]}"


def _mean_csv_frame(matrix: QualityMatrix) -> pd.DataFrame:
    """Mean values as objects with ``failed`` written into failed cells (missing stays empty)."""
    out = matrix.mean.astype(object).where(matrix.mean.notna(), None)
    return out.mask(matrix.failed, FAILED_MARK)


def write_matrix(matrix: QualityMatrix, out_dir: str | Path) -> dict[str, Path]:
    """Write matrix.csv (+ _std, _count), matrix.md and matrix.png into ``out_dir``."""
    from cvzoo.results.plots import plot_matrix

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out_dir / "matrix.csv",
        "std_csv": out_dir / "matrix_std.csv",
        "count_csv": out_dir / "matrix_count.csv",
        "md": out_dir / "matrix.md",
        "png": out_dir / "matrix.png",
    }
    _mean_csv_frame(matrix).to_csv(paths["csv"])
    matrix.std.to_csv(paths["std_csv"])
    matrix.count.to_csv(paths["count_csv"])
    paths["md"].write_text(to_markdown(matrix))
    plot_matrix(matrix, paths["png"])
    return paths
