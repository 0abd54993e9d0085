"""What a guided sweep leaves in its directory: guided.json and the observed + predicted matrix."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvzoo.results.plots import MISSING_COLOR, _mark_failed, _text_color

PREDICTED_MARK = "~"  # prefix of a predicted cell in matrix.csv / matrix.md
STATUSES = ("trained", "earlier", "predicted", "failed", "untrained")


@dataclass
class GuidedMatrix:
    """Every cell of the grid: value, predicted std and where it comes from (STATUSES)."""

    rows: list[str]
    cols: list[str]
    row_key: str
    col_key: str
    metric: str
    value: np.ndarray
    std: np.ndarray
    status: np.ndarray  # str per cell
    winner: tuple[int, int] | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> list[dict[str, Any]]:
        """One dict per cell for guided.json."""
        out = []
        for (i, j), status in np.ndenumerate(self.status):
            value, std = self.value[i, j], self.std[i, j]
            out.append({
                self.row_key: self.rows[i], self.col_key: self.cols[j], "status": str(status),
                "value": float(value) if np.isfinite(value) else None,
                "std": float(std) if status == "predicted" and np.isfinite(std) else None,
            })  # fmt: skip
        return out


def _text(matrix: GuidedMatrix, i: int, j: int, markdown: bool) -> str:
    """One cell as text: a number, ``~number`` (predicted), ``failed`` or empty."""
    status, value, std = matrix.status[i, j], matrix.value[i, j], matrix.std[i, j]
    if status == "failed":
        return "failed"
    if not np.isfinite(value):
        return "—" if markdown else ""
    if status == "predicted":
        spread = f" ± {std:.3g}" if markdown and np.isfinite(std) else ""
        return f"{PREDICTED_MARK}{value:.4g}{spread}"
    text = f"{value:.4g}"
    if markdown and (i, j) == matrix.winner:
        text = f"**{text}**"
    return text + (" (earlier)" if markdown and status == "earlier" else "")


def write_csv(matrix: GuidedMatrix, path: Path) -> Path:
    """Wide CSV: trained values as numbers, predicted ones as ``~0.812``, ``failed`` marks."""
    table = [[_text(matrix, i, j, False) for j in range(len(matrix.cols))] for i in range(len(matrix.rows))]
    frame = pd.DataFrame(table, index=pd.Index(matrix.rows, name=matrix.row_key), columns=matrix.cols)
    frame.to_csv(path)
    return path


def to_markdown(matrix: GuidedMatrix) -> str:
    """Markdown table with a legend, the winner and the remaining-regret estimate."""
    head = f"| {matrix.row_key} \\ {matrix.col_key} | " + " | ".join(matrix.cols) + " |"
    lines = [f"{matrix.metric} (guided sweep)", "", head, "|---|" + "---:|" * len(matrix.cols)]
    for i, row in enumerate(matrix.rows):
        cells = [_text(matrix, i, j, True) for j in range(len(matrix.cols))]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    s = matrix.summary
    lines += [
        "",
        f"Legend: plain = trained, `{PREDICTED_MARK}value ± std` = predicted (not trained), "
        "`failed` = run failed (counts as spent budget), bold = winner.",
        f"Winner: {s.get('winner')} = {s.get('winner_value')}; estimated remaining regret "
        f"{s.get('estimated_regret')}; P(an untrained cell beats it) {s.get('stop_probability')}; "
        f"runs {s.get('spent')}/{s.get('budget')} ({s.get('stop_reason')}).",
    ]
    return "\n".join(lines) + "\n"


def _mark_predicted(ax, i: int, j: int) -> None:
    """Hatch a predicted cell lightly so it never reads as a trained one."""
    from matplotlib.patches import Rectangle

    box = Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="white", linewidth=0)
    box.set_alpha(0.6)
    ax.add_patch(box)


def _draw_cell(ax, matrix: GuidedMatrix, i: int, j: int, low: float, high: float) -> None:
    """Value text (predicted: italic ``~value ± std (pred)``), failed mark or winner frame."""
    from matplotlib.patches import Rectangle

    status, value = matrix.status[i, j], matrix.value[i, j]
    if status == "failed":
        _mark_failed(ax, i, j)
        return
    if not np.isfinite(value):
        ax.text(j, i, "not run", ha="center", va="center", color="#555555", fontsize=8)
        return
    color = _text_color(value, low, high)
    if status == "predicted":
        _mark_predicted(ax, i, j)
        text = f"~{value:.3f}\n± {matrix.std[i, j]:.3f}\n(predicted)"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, style="italic", color=color)
        return
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=9, fontweight="bold", color=color)
    if (i, j) == matrix.winner:
        ax.add_patch(Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, edgecolor="red", linewidth=2.5))


def plot(matrix: GuidedMatrix, path: Path) -> Path:
    """Heatmap of all cells; predicted ones hatched and in italics, failed ones crossed."""
    import matplotlib
    from matplotlib.figure import Figure

    n_rows, n_cols = matrix.value.shape
    fig = Figure(figsize=(2.5 + 1.4 * n_cols, 1.8 + 0.8 * n_rows), dpi=110)
    ax = fig.subplots()
    shown = np.where(matrix.status == "failed", np.nan, matrix.value)
    finite = shown[np.isfinite(shown)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=MISSING_COLOR)
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=low, vmax=high, aspect="auto")
    for i in range(n_rows):
        for j in range(n_cols):
            _draw_cell(ax, matrix, i, j, low, high)
    ax.set_xticks(range(n_cols), matrix.cols, rotation=30, ha="right")
    ax.set_yticks(range(n_rows), matrix.rows)
    ax.set_xlabel(matrix.col_key)
    ax.set_ylabel(matrix.row_key)
    regret = matrix.summary.get("estimated_regret")
    regret_text = f"{regret:.3g}" if isinstance(regret, float) else "n/a"
    ax.set_title(
        f"{matrix.metric}: trained (bold), predicted (hatched, italic), failed (red ×)\n"
        f"winner framed red; estimated remaining regret {regret_text}",
        fontsize=9,
    )
    fig.colorbar(image, ax=ax, label=matrix.metric)
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_outputs(matrix: GuidedMatrix, sweep_dir: str | Path, extra: Mapping[str, Any]) -> dict[str, Path]:
    """Write guided.json, matrix.csv, matrix.md and matrix.png into the sweep directory."""
    folder = Path(sweep_dir)
    folder.mkdir(parents=True, exist_ok=True)
    body = {**matrix.summary, **extra, "cells": matrix.cells()}
    paths = {"json": folder / "guided.json"}
    paths["json"].write_text(json.dumps(body, indent=2, default=str) + "\n")
    paths["csv"] = write_csv(matrix, folder / "matrix.csv")
    paths["md"] = folder / "matrix.md"
    paths["md"].write_text(to_markdown(matrix))
    paths["png"] = plot(matrix, folder / "matrix.png")
    return paths
