"""Heatmap of a quality matrix: values in the cells, missing cells grey, failed cells hatched ×."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cvzoo.results.pivot import QualityMatrix

MISSING_COLOR = "#c8c8c8"
FAILED_COLOR = "#f2c4c4"


def _text_color(value: float, low: float, high: float) -> str:
    """Black on the bright (high) end of viridis, white on the dark end."""
    share = 0.5 if high <= low else (value - low) / (high - low)
    return "black" if share > 0.6 else "white"


def _mark_failed(ax, i: int, j: int) -> None:
    """Hatch cell (i, j) with red crosses and label it ``× failed``."""
    from matplotlib.patches import Rectangle

    box = Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=FAILED_COLOR, hatch="xx")
    box.set(edgecolor="#b03030", linewidth=0)
    ax.add_patch(box)
    label_box = {"facecolor": "white", "edgecolor": "none", "pad": 1.5}
    ax.text(j, i, "× failed", ha="center", va="center", color="#800000", fontsize=9,
            fontweight="bold", bbox=label_box)  # fmt: skip


def _draw_cells(ax, matrix: QualityMatrix, low: float, high: float) -> None:
    """Write each cell's mean (± std, n), or mark it failed / missing."""
    for i, row in enumerate(matrix.mean.index):
        for j, col in enumerate(matrix.mean.columns):
            mean, std = matrix.mean.at[row, col], matrix.std.at[row, col]
            count = int(matrix.count.at[row, col])
            if matrix.failed.at[row, col]:
                _mark_failed(ax, i, j)
            elif count == 0:
                ax.text(j, i, "not run", ha="center", va="center", color="#555555", fontsize=8)
            else:
                text = f"{mean:.3f}" + (f"\n± {std:.3f}" if np.isfinite(std) else "")
                color = _text_color(mean, low, high)
                ax.text(j, i, f"{text}\nn={count}", ha="center", va="center", fontsize=8,
                        color=color)  # fmt: skip


def plot_matrix(matrix: QualityMatrix, path: str | Path) -> Path:
    """Save the matrix as a PNG heatmap with a colour bar labelled with the metric."""
    import matplotlib
    from matplotlib.figure import Figure

    values = matrix.mean.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    # A bare Figure renders with Agg and leaves pyplot's global state alone.
    fig = Figure(figsize=(2.0 + 1.3 * n_cols, 1.5 + 0.75 * n_rows), dpi=110)
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=MISSING_COLOR)
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=low, vmax=high, aspect="auto")
    _draw_cells(ax, matrix, low, high)
    ax.set_xticks(range(n_cols), [str(c) for c in matrix.mean.columns], rotation=30, ha="right")
    ax.set_yticks(range(n_rows), [str(r) for r in matrix.mean.index])
    ax.set_xlabel(matrix.cols)
    ax.set_ylabel(matrix.rows)
    ax.set_title(f"{matrix.metric} by {matrix.rows} × {matrix.cols} (grey: not run)")
    fig.colorbar(image, ax=ax, label=matrix.metric)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path
