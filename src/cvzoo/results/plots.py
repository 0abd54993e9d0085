"""Heatmap of a quality matrix: measured values, predicted cells hatched, missing grey, failed ×."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvzoo.results.quality_matrix import EARLIER, FAILED, PREDICTED, QualityMatrix

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


def _mark_predicted(ax, i: int, j: int, text: str, color: str) -> None:
    """Hatch a predicted cell lightly and write its value in italics, never read as trained."""
    from matplotlib.patches import Rectangle

    box = Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="white", linewidth=0)
    box.set_alpha(0.6)
    ax.add_patch(box)
    ax.text(j, i, text, ha="center", va="center", fontsize=7, style="italic", color=color)


def _draw_cell(ax, matrix: QualityMatrix, i: int, j: int, low: float, high: float) -> None:
    """Write one cell's value (± std, n), or mark it predicted / failed / not run / the winner."""
    from matplotlib.patches import Rectangle

    status, value, std = matrix.status[i, j], matrix.values[i, j], matrix.std[i, j]
    if status == FAILED:
        _mark_failed(ax, i, j)
        return
    if not np.isfinite(value):
        ax.text(j, i, "not run", ha="center", va="center", color="#555555", fontsize=8)
        return
    color = _text_color(value, low, high)
    spread = f"\n± {std:.3f}" if np.isfinite(std) else ""
    label = f"\n{matrix.labels[i, j]}" if matrix.labels[i, j] else ""
    if status == PREDICTED:
        _mark_predicted(ax, i, j, f"~{value:.3f}{spread}\n(predicted){label}", color)
        return
    earlier = " (earlier)" if status == EARLIER else ""
    text = f"{value:.3f}{spread}\nn={int(matrix.count[i, j])}{earlier}{label}"
    ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
    if (i, j) == matrix.winner:
        ax.add_patch(Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, edgecolor="red", linewidth=2.5))


def _title(matrix: QualityMatrix) -> str:
    """What the picture shows; with predictions, how to tell them from trained cells."""
    title = f"{matrix.metric} by {matrix.row_key} × {matrix.col_key} (grey: not run)"
    if not (matrix.status == PREDICTED).any():
        return title
    regret = matrix.summary.get("estimated_regret")
    regret_text = f"; regret ≈ {regret:.3g}" if isinstance(regret, float) else ""
    return f"{title}\nhatched italic: predicted; red frame: winner{regret_text}"


def plot_matrix(matrix: QualityMatrix, path: str | Path) -> Path:
    """Save the matrix as a PNG heatmap with a colour bar labelled with the metric."""
    import matplotlib
    from matplotlib.figure import Figure

    values = np.where(matrix.status == FAILED, np.nan, matrix.values)
    n_rows, n_cols = values.shape
    # A bare Figure renders with Agg and leaves pyplot's global state alone.
    fig = Figure(figsize=(2.0 + 1.3 * n_cols, 1.5 + 0.75 * n_rows), dpi=110)
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=MISSING_COLOR)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=low, vmax=high, aspect="auto")
    for i in range(n_rows):
        for j in range(n_cols):
            _draw_cell(ax, matrix, i, j, low, high)
    ax.set_xticks(range(n_cols), [str(c) for c in matrix.cols], rotation=30, ha="right")
    ax.set_yticks(range(n_rows), [str(r) for r in matrix.rows])
    ax.set_xlabel(matrix.col_key)
    ax.set_ylabel(matrix.row_key)
    ax.set_title(_title(matrix), fontsize=9)
    fig.colorbar(image, ax=ax, label=matrix.metric)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path
