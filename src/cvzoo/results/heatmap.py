"""Seed-style picture of a completed matrix: observed vs predicted cells, embeddings, loss curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvzoo.predictors.fitted import Completion
from cvzoo.results.quality_matrix import QualityMatrix

OBSERVED_CMAP = "Blues"
PREDICTED_CMAP = "Oranges"
EMBEDDING_CMAP = "coolwarm"
ANNOTATE_UP_TO = 400  # cells; larger matrices are drawn without numbers
TICKS_UP_TO = 60  # labels per axis


def _annotate(ax, comp: Completion, known: np.ndarray, mid: float) -> None:
    """Write observed values upright and predictions in italics with their std."""
    for (i, j), value in np.ndenumerate(comp.mean):
        if known[i, j]:
            text, style = f"{value:.3g}", "normal"
        else:
            text, style = f"{value:.3g}\n±{comp.std[i, j]:.2g}", "italic"
        color = "white" if value > mid else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, style=style, color=color)


def _ticks(ax, rows: list[str], cols: list[str]) -> None:
    """Label the axes when there are few enough rows/columns to read."""
    if len(cols) <= TICKS_UP_TO:
        ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right", fontsize=8)
    if len(rows) <= TICKS_UP_TO:
        ax.set_yticks(range(len(rows)), rows, fontsize=8)


def _draw_matrix(fig, ax, cax_obs, cax_pred, comp, known, rows, cols) -> None:
    """Observed cells in one colour map, predicted cells in another, one colour bar each."""
    low, high = float(np.min(comp.mean)), float(np.max(comp.mean))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    shown = {"vmin": low, "vmax": high, "aspect": "auto", "interpolation": "nearest"}
    pred = ax.imshow(np.ma.masked_where(known, comp.mean), cmap=PREDICTED_CMAP, **shown)
    obs = ax.imshow(np.ma.masked_where(~known, comp.mean), cmap=OBSERVED_CMAP, **shown)
    if comp.mean.size <= ANNOTATE_UP_TO:
        _annotate(ax, comp, known, low + 0.6 * (high - low))
    _ticks(ax, rows, cols)
    fig.colorbar(obs, cax=cax_obs).set_label("observed")
    fig.colorbar(pred, cax=cax_pred).set_label("predicted")


def _strip_data(comp: Completion, axis: int) -> tuple[np.ndarray, str]:
    """ALS factors of the rows (axis 1) or columns (axis 0), else their additive effects."""
    emb = comp.row_embeddings if axis == 1 else comp.col_embeddings
    if emb is not None and emb.size:
        return emb, "factor"
    effect = comp.mean.mean(axis=axis) - comp.mean.mean()
    return effect[:, None], "effect"


def _draw_strip(ax, comp: Completion, vertical: bool) -> None:
    """Row embeddings as a vertical strip (R x k) right of the matrix, columns' (k x C) above."""
    emb, what = _strip_data(comp, axis=1 if vertical else 0)
    data = emb if vertical else emb.T
    bound = float(np.abs(data).max()) or 1.0
    ax.imshow(data, cmap=EMBEDDING_CMAP, vmin=-bound, vmax=bound, aspect="auto")
    ticks = range(emb.shape[1]) if what == "factor" else []
    if vertical:
        ax.set_xticks(ticks)
        ax.set_yticks([])
        ax.set_xlabel(f"row {what}", fontsize=7)
    else:
        ax.set_yticks(ticks)
        ax.set_xticks([])
        ax.set_ylabel(f"col {what}", fontsize=7)
    ax.tick_params(labelsize=6)


def _draw_loss(ax, curve: list[float], method: str) -> None:
    """ALS objective per sweep (or a note when the model has no iterative training)."""
    if not curve:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{method} model: no ALS training curve", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
        return
    ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3)
    ax.set_xlabel("ALS sweep")
    ax.set_ylabel("objective / cell (z units²)")
    ax.set_title("training loss", fontsize=9)
    ax.grid(alpha=0.3)


def plot_completion(path: str | Path, comp: Completion, matrix: QualityMatrix, title: str = "") -> Path:
    """Save ``matrix`` completed by ``comp`` with embedding strips and the loss curve as PNG."""
    from matplotlib.figure import Figure

    known, rows, cols = np.isfinite(matrix.values), matrix.rows, matrix.cols
    n_rows, n_cols = comp.mean.shape
    big = comp.mean.size > ANNOTATE_UP_TO
    main_w = max((0.2 if big else 0.9) * min(n_cols, 60), 3.0)
    main_h = max((0.1 if big else 0.45) * min(n_rows, 80), 2.0)
    widths = [main_w, 0.9, 0.25, 0.9, 0.25]
    fig = Figure(figsize=(sum(widths) + 2.5, main_h + 6.0), dpi=110)
    outer = fig.add_gridspec(2, 1, height_ratios=[main_h + 0.9, 2.2], hspace=0.35)
    grid = outer[0].subgridspec(2, 5, height_ratios=[0.9, main_h], width_ratios=widths,
                                hspace=0.04, wspace=0.08)  # fmt: skip
    ax = fig.add_subplot(grid[1, 0])
    _draw_matrix(fig, ax, fig.add_subplot(grid[1, 2]), fig.add_subplot(grid[1, 4]), comp,
                 known, rows, cols)  # fmt: skip
    ax.set_ylabel(matrix.row_key or "row")
    ax.set_xlabel(matrix.col_key or "column")
    _draw_strip(fig.add_subplot(grid[1, 1]), comp, vertical=True)
    _draw_strip(fig.add_subplot(grid[0, 0]), comp, vertical=False)
    _draw_loss(fig.add_subplot(outer[1]), comp.loss_curve, comp.method)
    params = ", ".join(f"{k}={v}" for k, v in comp.params.items())
    fig.suptitle(
        f"{title}\nblue: observed ({int(known.sum())}), orange: predicted ({int((~known).sum())})"
        f" — {comp.method} ({params}), cross-validated RMSE on observed cells: "
        f"{comp.cv_rmse:.4g}",
        fontsize=9,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    return path
