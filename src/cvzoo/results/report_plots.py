"""Figures of the comparison report: curves, confusion matrices, per-class charts, task curves, hparams."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
MAX_ANNOTATED_CLASSES = 20  # write counts into confusion cells up to this many classes


def _figure(width: float, height: float) -> Figure:
    """A bare Agg figure (leaves pyplot's global state alone)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def save(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG at ``path`` and return the path."""
    path = Path(path)
    fig.savefig(path, bbox_inches="tight")
    return path


def _colors(n: int) -> list[Any]:
    """``n`` distinguishable colours (tab10, then tab20)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def curve_figure(histories: Mapping[str, Sequence[Mapping[str, float]]], keys: Sequence[str]) -> Figure:
    """One panel per history key (``train/loss``, ``val/acc``, ...), every run overlaid."""
    from matplotlib.ticker import MaxNLocator

    cols = min(3, max(1, len(keys)))
    rows = math.ceil(len(keys) / cols)
    fig = _figure(4.2 * cols, 3.2 * rows + 0.4 + 0.22 * math.ceil(len(histories) / 3))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, key in zip(axes, keys):
        for (label, history), color in zip(histories.items(), _colors(len(histories))):
            points = [(row["epoch"] + 1, row[key]) for row in history if row.get(key) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", markersize=3, color=color, label=label)
        ax.set_title(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key.split("/", 1)[-1])
        ax.grid(alpha=0.3)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle("Training and validation curves (all runs)")
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(3, max(1, len(labels))),
        fontsize=8,
        bbox_to_anchor=(0.5, 0.0),
    )
    fig.tight_layout(rect=(0, 0.06 + 0.03 * math.ceil(len(labels) / 3), 1, 0.96))
    return fig


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> Figure:
    """Heatmap of a confusion matrix (rows true, columns predicted), coloured by row share."""
    counts = np.asarray(matrix, dtype=float)
    n = len(counts)
    names = list(class_names) if len(class_names) == n else [str(i) for i in range(n)]
    totals = counts.sum(1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    side = min(12.0, 2.5 + 0.45 * n)
    fig = _figure(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    if n <= MAX_ANNOTATED_CLASSES:
        for i in range(n):
            for j in range(n):
                color = "white" if share[i, j] > 0.6 else "black"
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7, color=color)
    ticks = range(n) if n <= 50 else range(0, n, max(1, n // 25))
    ax.set_xticks(list(ticks), [names[i] for i in ticks], rotation=90)
    ax.set_yticks(list(ticks), [names[i] for i in ticks])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="share of the true class (row)", fraction=0.046)
    fig.tight_layout()
    return fig


def per_class_figure(names: Sequence[str], values: Sequence[float | None], metric: str, title: str) -> Figure:
    """Horizontal bars of a per-class metric; classes without a value are marked ``n/a``."""
    n = len(values)
    fig = _figure(6.5, 1.2 + 0.28 * n)
    ax = fig.subplots()
    heights = [v if v is not None else 0.0 for v in values]
    ax.barh(range(n), heights, color="#4c72b0")
    for i, value in enumerate(values):
        ax.text((value or 0.0) + 0.01, i, "n/a" if value is None else f"{value:.2f}", va="center", fontsize=7)
    known = [v for v in values if v is not None]
    if known:
        mean = float(np.mean(known))
        ax.axvline(mean, color="#c44e52", linestyle="--", label=f"mean {mean:.3f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(range(n), list(names) if len(names) == n else [str(i) for i in range(n)])
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.1)
    ax.set_xlabel(metric)
    ax.set_ylabel("class")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def overlay_figure(
    curves: Mapping[str, Mapping[str, Sequence[float | None]]], x: str, y: str, title: str
) -> Figure:
    """One record curve (``y`` against ``x``) per run on shared 0..1 axes; undefined points are gaps."""
    fig = _figure(6.0, 4.6)
    ax = fig.subplots()
    for (label, curve), color in zip(curves.items(), _colors(len(curves))):
        ys = [np.nan if v is None else v for v in curve[y]]
        ax.plot(curve[x], ys, color=color, label=label)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def _is_number(value: Any) -> bool:
    """True for ints and floats (not bools)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scatter_panel(ax: Axes, key: str, xs: Sequence[Any], ys: Sequence[float], metric: str) -> None:
    """Metric against one hyperparameter: numeric axis for numbers, one column per category."""
    if all(_is_number(x) for x in xs):
        values = np.asarray(xs, dtype=float)
        ax.scatter(values, ys, color="#4c72b0", alpha=0.8)
        if values.min() > 0 and values.max() / values.min() >= 20:
            ax.set_xscale("log")
    else:
        labels = sorted({str(x) for x in xs})
        spread = np.random.default_rng(0).uniform(-0.08, 0.08, len(xs))
        ax.scatter([labels.index(str(x)) + d for x, d in zip(xs, spread)], ys, color="#4c72b0", alpha=0.8)
        for i, name in enumerate(labels):  # the mean of each category as a short red bar
            mean = float(np.mean([y for x, y in zip(xs, ys) if str(x) == name]))
            ax.plot([i - 0.25, i + 0.25], [mean, mean], color="#c44e52", linewidth=2)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)


def hparam_figure(table: Mapping[str, Sequence[Any]], metric_values: Sequence[float], metric: str) -> Figure:
    """A grid of scatter plots: the metric against each hyperparameter that varied."""
    keys = list(table)
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = _figure(4.2 * cols, 3.4 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, key in zip(axes, keys):
        _scatter_panel(ax, key, table[key], metric_values, metric)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    fig.suptitle(f"{metric} against the hyperparameters that varied (one dot per run)")
    fig.tight_layout()
    return fig


def run_label(run_id: str, record: Mapping[str, Any]) -> str:
    """Legend text of a run: ``0: resnet18+linear`` (and its status when not ok)."""
    status = record.get("status")
    suffix = f" ({status})" if status != "ok" else ""
    return f"{run_id}: {record.get('backbone')}+{record.get('head')}{suffix}"


def curve_keys(histories: Sequence[Sequence[Mapping[str, Any]]]) -> list[str]:
    """History keys to plot: training and validation loss, then the validation metrics."""
    from cvzoo.results.report import metric_rank

    present = {k for history in histories for row in history for k in row}
    losses = [k for k in ("train/loss", "val/loss") if k in present]
    return losses + sorted((k for k in present if k.startswith("val/") and k not in losses), key=metric_rank)


def figure_jobs(
    records: Sequence[Mapping[str, Any]], ids: Sequence[str], varied: Mapping[str, Sequence[Any]]
) -> list[tuple[str, str, Any]]:
    """``(key, file name, make_figure)`` for every plot the report shows."""
    from cvzoo.results.report import file_id, monitor_value
    from cvzoo.tasks import TASKS

    jobs: list[tuple[str, str, Any]] = []
    histories = {run_label(i, r): r["history"] for i, r in zip(ids, records) if r.get("history")}
    if histories:
        keys = curve_keys(list(histories.values()))
        jobs.append(("curves", "curves.png", lambda: curve_figure(histories, keys)))
    scored = [
        (n, r) for n, r in enumerate(records) if r.get("status") == "ok" and monitor_value(r) is not None
    ]
    if varied and len(scored) >= 2:
        table = {k: [varied[k][n] for n, _ in scored] for k in varied}
        values = [monitor_value(r) for _, r in scored]
        metric = str(scored[0][1].get("monitor"))
        jobs.append(("hparams", "hparams.png", lambda: hparam_figure(table, values, metric)))
    for run_id, record in zip(ids, records):
        if record.get("status") != "ok":
            continue
        title = run_label(run_id, record)
        task = TASKS.get(str(record.get("task", "classification")))
        if task is None:
            continue
        matrix = record.get("confusion_matrix")
        per_class = (record.get("per_class") or {}).get(f"test/{task.per_class_field}")
        if matrix and task.confusion_figure:
            names = record.get("class_names") or []
            make = lambda m=matrix, c=names, t=title: confusion_figure(m, c, f"Confusion matrix (test), {t}")  # noqa: E731
            jobs.append((f"confusion/{run_id}", f"confusion_{file_id(run_id)}.png", make))
        if per_class and task.per_class_chart:
            names = (record.get("per_class") or {}).get("names") or []
            label, field = task.per_class_chart, task.per_class_field
            make = partial(
                per_class_figure, names, per_class, f"{label} (test)", f"Per-class {label}, {title}"
            )
            jobs.append((f"per_class_{field}/{run_id}", f"per_class_{field}_{file_id(run_id)}.png", make))
    return jobs + _overlay_jobs(records, ids)


def _overlay_jobs(records: Sequence[Mapping[str, Any]], ids: Sequence[str]) -> list[tuple[str, str, Any]]:
    """One ``curve_chart/<name>`` figure per curve a task declares, every ok run that has it overlaid."""
    from cvzoo.results.report import file_id
    from cvzoo.tasks import TASKS

    charts: dict[str, tuple[tuple[str, str, str], dict[str, Any]]] = {}
    for run_id, record in zip(ids, records):
        task = TASKS.get(str(record.get("task", "classification")))
        if record.get("status") != "ok" or task is None:
            continue
        for name, spec in task.curve_charts.items():
            curve = (record.get("curves") or {}).get(name)
            if curve and all(curve.get(field) for field in spec[:2]):
                charts.setdefault(name, (spec, {}))[1][run_label(run_id, record)] = curve
    return [
        (f"curve_chart/{name}", f"curve_{file_id(name)}.png", partial(overlay_figure, curves, *spec))
        for name, (spec, curves) in charts.items()
    ]


def write_figures(
    records: Sequence[Mapping[str, Any]],
    ids: Sequence[str],
    varied: Mapping[str, Sequence[Any]],
    out: Path,
    progress: bool = False,
) -> dict[str, Path]:
    """Render every report figure into ``out`` (a rich progress bar on stderr if asked)."""
    from rich.console import Console
    from rich.progress import Progress

    jobs = figure_jobs(records, ids, varied)
    paths: dict[str, Path] = {}
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task("report plots", total=len(jobs))
        for key, name, make in jobs:
            try:
                paths[key] = save(make(), out / name)
            except Exception as err:  # noqa: BLE001 - one bad plot must not cost the whole report
                log.warning("report plot %s failed: %s: %s", name, type(err).__name__, err)
            bar.advance(task)
    return paths
