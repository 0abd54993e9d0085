"""The one writer of a QualityMatrix: <stem>.csv (+ _std, _count), <stem>.md and <stem>.png."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cvzoo.results.quality_matrix import EARLIER, FAILED, PREDICTED, QualityMatrix

FAILED_MARK = "failed"
MISSING_MARK = "—"
PREDICTED_MARK = "~"  # prefix of a predicted cell in <stem>.csv / <stem>.md


def format_cell(matrix: QualityMatrix, i: int, j: int, digits: int = 3) -> str:
    """One markdown cell: ``0.812 ± 0.004 (n=3)``, ``~0.79 ± 0.02``, ``failed`` or ``—``, then its
    label (``· optimizer.lr=0.001``) when it has one."""
    text = _format_value(matrix, i, j, digits)
    label = matrix.labels[i, j]
    return f"{text} · {label}" if label and text != MISSING_MARK else text


def _format_value(matrix: QualityMatrix, i: int, j: int, digits: int) -> str:
    """The value part of ``format_cell``."""
    status, value, std = matrix.status[i, j], matrix.values[i, j], matrix.std[i, j]
    if status == FAILED:
        return FAILED_MARK
    if not math.isfinite(value):
        return MISSING_MARK
    spread = f" ± {std:.{digits}f}" if math.isfinite(std) else ""
    if status == PREDICTED:
        return f"{PREDICTED_MARK}{value:.{digits}f}{spread}"
    text = f"{value:.{digits}f}{spread} (n={int(matrix.count[i, j])})"
    if (i, j) == matrix.winner:
        text = f"**{text}**"
    return text + (" (earlier)" if status == EARLIER else "")


def mixed_note(matrix: QualityMatrix) -> str:
    """One line saying which other keys the cells average over and how to pin them."""
    varied = "; ".join(f"{k}={'|'.join(v[:5])}{'|…' if len(v) > 5 else ''}"
                       for k, v in matrix.mixed.items())  # fmt: skip
    key, values = next(iter(matrix.mixed.items()))
    return f"Note: the records also differ in {varied}; pin one with --where {key}={values[0]}"


def to_markdown(matrix: QualityMatrix, notes: Sequence[str] = ()) -> str:
    """The matrix as a markdown table titled with the metric and the two keys, then ``notes``."""
    header = [f"{matrix.row_key} \\ {matrix.col_key}", *map(str, matrix.cols)]
    lines = [
        f"**{matrix.metric}** by {matrix.row_key} × {matrix.col_key} (mean ± std over seeds, n runs)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|",
    ]
    for i, row in enumerate(matrix.rows):
        cells = [format_cell(matrix, i, j) for j in range(len(matrix.cols))]
        lines.append("| " + " | ".join([str(row), *cells]) + " |")
    extra = [mixed_note(matrix)] if matrix.mixed else []
    if (matrix.status == PREDICTED).any():
        extra.append(f"Legend: `{PREDICTED_MARK}value ± std` = predicted (not trained), "
                     "`failed` = every run of the cell failed, bold = winner.")  # fmt: skip
    extra += list(notes)
    if extra:
        lines += ["", *extra]
    return "\n".join(lines) + "\n"


def values_frame(matrix: QualityMatrix, marks: bool = True) -> pd.DataFrame:
    """Values as CSV cells: numbers, ``~number`` for predicted cells (``marks``), ``failed``, empty."""
    out = matrix.frame("values").astype(object)
    for (i, j), status in np.ndenumerate(matrix.status):
        value = matrix.values[i, j]
        if status == FAILED:
            out.iat[i, j] = FAILED_MARK if marks else None
        elif not math.isfinite(value):
            out.iat[i, j] = None
        elif marks and status == PREDICTED:
            out.iat[i, j] = f"{PREDICTED_MARK}{value:.6g}"
    return out


def write_csv(matrix: QualityMatrix, path: str | Path, field: str = "values", marks: bool = True) -> Path:
    """Write one field as a labelled CSV (values with status marks unless ``marks`` is False)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = values_frame(matrix, marks) if field == "values" else matrix.frame(field)
    frame.to_csv(path, index_label=matrix.row_key or "")
    return path


def write_matrix(
    matrix: QualityMatrix, out_dir: str | Path, stem: str = "matrix", notes: Sequence[str] = ()
) -> dict[str, Path]:
    """Write ``<stem>.csv`` (+ ``_std``, ``_count``, and ``_label`` when cells are labelled),
    ``<stem>.md`` and ``<stem>.png`` into ``out_dir``."""
    from cvzoo.results.plots import plot_matrix

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": write_csv(matrix, out_dir / f"{stem}.csv"),
        "std_csv": write_csv(matrix, out_dir / f"{stem}_std.csv", "std"),
        "count_csv": write_csv(matrix, out_dir / f"{stem}_count.csv", "count"),
        "md": out_dir / f"{stem}.md",
    }
    if any(matrix.labels.ravel()):
        paths["label_csv"] = write_csv(matrix, out_dir / f"{stem}_label.csv", "labels")
    paths["md"].write_text(to_markdown(matrix, notes))
    paths["png"] = plot_matrix(matrix, out_dir / f"{stem}.png")
    return paths
