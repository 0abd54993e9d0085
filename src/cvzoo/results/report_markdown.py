"""``report.md`` of the comparison report: the ranked table, failures, plots and why each metric."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cvzoo.results.report import SHOWN, group_label, metric_columns, monitor_value
from cvzoo.tasks import TASKS

UNFINISHED = "no result: the run was killed or is still running"
COSTS = ("params", "GFLOPs", "train time", "img/s")
# Why each number is in the report: two sentences each (what it measures, why it matters); the
# task metrics' notes are declared by their task modules (cvzoo.tasks).
WHY = {
    **{name: note for task in TASKS.values() for name, note in task.metric_notes.items()},
    "params": "Params counts the weights of backbone and head. It decides memory, checkpoint size and "
    "download cost, and large models need more data to generalise.",
    "GFLOPs": "GFLOPs are the forward floating-point operations for one image at the training "
    "resolution (torch FlopCounterMode). They predict inference cost better than the parameter "
    "count, e.g. a ViT has few parameters but many FLOPs at high resolution.",
    "train time": "Train time is the wall time of training including validation. The cheapest run that "
    "reaches the target is often the best choice, and it sizes the next sweep.",
    "img/s": "Throughput is training images per second over the timed training steps. It compares "
    "speed independently of the number of epochs and of early stopping.",
}


def _fmt(value: Any, kind: str = "metric") -> str:
    """A table cell: metrics to 4 digits, hyperparameters as given, counts with SI suffixes, times."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value).replace("|", "\\|")
    if kind == "count":
        return next(
            (f"{value / d:.1f}{s}" for d, s in ((1e9, "G"), (1e6, "M"), (1e3, "k")) if value >= d),
            f"{value:.0f}",
        )
    if kind == "time":
        return (
            f"{value:.0f} s"
            if value < 120
            else f"{value / 60:.1f} min"
            if value < 7200
            else f"{value / 3600:.1f} h"
        )
    if kind == "gflops":
        return f"{value / 1e9:.3g}"
    if kind == "value":
        return f"{value:g}"
    if kind == "rate":
        return f"{value:,.0f}"
    return f"{value:.4f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _score_columns(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The monitored metrics (best val) and the task metrics shown (test, else best val)."""
    monitors = list(dict.fromkeys(str(r["monitor"]) for r in records if r.get("monitor")))
    section = "test" if any(r.get("test") for r in records) else "best_val"
    shown = [m for m in metric_columns(records, section) if not m.endswith("/loss") and m not in monitors]
    return monitors, shown


def _cost_cells(record: Mapping[str, Any]) -> list[str]:
    """Params, GFLOPs, train time and throughput of one run."""
    return [
        _fmt(record.get("params"), "count"),
        _fmt(record.get("flops_per_image"), "gflops"),
        _fmt(record.get("train_time_s"), "time"),
        _fmt(record.get("train_images_per_s"), "rate"),
    ]


def _runs_table(
    records: Sequence[Mapping[str, Any]], ids: Sequence[str], varied: Mapping[str, Sequence[Any]]
) -> list[str]:
    """The ranked table of the ok runs (the others are listed separately)."""
    monitors, shown = _score_columns(records)
    extra = [k for k in varied if k not in SHOWN]
    header = ["#", "run", *SHOWN, *extra, *COSTS, *(f"{m} (best)" for m in monitors), *shown]
    rows = []
    for i, (run, record) in enumerate(zip(ids, records)):
        if record.get("status") != "ok":
            continue
        best = [_fmt(monitor_value(record)) if record.get("monitor") == m else "—" for m in monitors]
        scores = {**(record.get("best_val") or {}), **(record.get("test") or {})}
        rows.append(
            [
                str(len(rows) + 1),
                f"`{run}`",
                *(_fmt(group_label(record, g)) for g in SHOWN),
                *(_fmt(varied[k][i], "value") for k in extra),
                *_cost_cells(record),
                *best,
                *(_fmt(scores.get(m)) for m in shown),
            ]
        )
    return _table(header, rows) if rows else ["No run finished."]


def _failed_table(
    records: Sequence[Mapping[str, Any]], ids: Sequence[str], varied: Mapping[str, Sequence[Any]]
) -> list[str]:
    """Failed and diverged runs: their recipe, what varied, and the first line of their error."""
    extra = [k for k in varied if k not in SHOWN]
    rows = []
    for i, (run, record) in enumerate(zip(ids, records)):
        if record.get("status") == "ok":
            continue
        error = str(record.get("error") or UNFINISHED).splitlines()
        rows.append([f"`{run}`", *(_fmt(group_label(record, g)) for g in SHOWN),
                     *(_fmt(varied[k][i], "value") for k in extra), str(record.get("status")),
                     _fmt(error[0] if error else "")])  # fmt: skip
    if not rows:
        return []
    header = ["run", *SHOWN, *extra, "status", "error"]
    return ["", "## Failed runs", "", *_table(header, rows)]


def _is_run_plot(key: str, run: str) -> bool:
    """True for the per-run plot keys of ``run``: ``confusion/<run>`` and ``per_class_<metric>/<run>``."""
    kind, _, owner = key.partition("/")
    return owner == run and (kind == "confusion" or kind.startswith("per_class_"))


def _images(
    paths: Mapping[str, Path], out: Path, records: Sequence[Mapping[str, Any]], ids: Sequence[str]
) -> list[str]:
    """Links to the plots: curves, hyperparameters, then one section per run."""
    lines = []
    if "curves" in paths:
        lines += ["", "## Curves", "", f"![training and validation curves]({paths['curves'].name})"]
    if "hparams" in paths:
        lines += ["", "## Hyperparameters", "", f"![metric against hyperparameters]({paths['hparams'].name})"]
    for key in (k for k in paths if k.startswith("curve_chart/")):
        name = key.partition("/")[2]
        lines += ["", f"## Test curve `{name}`", "", f"![{name}, all runs overlaid]({paths[key].name})"]
    per_run_keys = {run: [k for k in paths if _is_run_plot(k, run)] for run in ids}
    per_run = [(run, r) for run, r in zip(ids, records) if per_run_keys[run]]
    if per_run:
        lines += [
            "",
            "## Per run",
            "",
            "Confusion matrices (classification, rows = true class), per-class IoU "
            "(segmentation) and per-class AP (detection) on the test split, best run first.",
        ]
    for run, record in per_run:
        plots = [paths[k] for k in sorted(per_run_keys[run], key=lambda k: not k.startswith("confusion/"))]
        if plots:
            lines += ["", f"### `{run}`: {record.get('backbone')} + {record.get('head')}", ""]
            lines += [f"![{p.stem}]({os.path.relpath(p, out)})" for p in plots]
    return lines


def _why(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Two sentences per metric in the table."""
    monitors, shown = _score_columns(records)
    names = dict.fromkeys(m.split("/", 1)[-1] for m in (*monitors, *shown))
    names.update(dict.fromkeys(COSTS))
    lines = ["", "## Why these metrics", ""]
    return lines + [f"- **{n}**: {WHY[n]}" for n in names if n in WHY]


def _ranking(records: Sequence[Mapping[str, Any]]) -> str:
    """``val/acc (higher is better)`` for each monitored metric."""
    pairs = dict.fromkeys(
        (str(r["monitor"]), r.get("monitor_mode", "max")) for r in records if r.get("monitor")
    )
    text = ", ".join(f"{m} ({'higher' if mode == 'max' else 'lower'} is better)" for m, mode in pairs)
    return text or "nothing (no monitored metric)"


def render_markdown(
    records: Sequence[Mapping[str, Any]],
    ids: Sequence[str],
    varied: Mapping[str, Sequence[Any]],
    paths: Mapping[str, Path],
    out: Path,
) -> str:
    """The whole report.md."""
    ok = sum(r.get("status") == "ok" for r in records)
    failed = sum(r.get("status") != "ok" for r in records)
    where = "test split (best checkpoint)" if any(r.get("test") for r in records) else "best validation epoch"
    lines = [
        "# Comparison report",
        "",
        f"{len(records)} runs ({ok} ok, {failed} failed or unfinished), ranked by {_ranking(records)} "
        f"at the best validation epoch; the other task metrics are on the {where}.",
        f"Varied: {', '.join(varied) or 'nothing'}. Every number of every run is in `{paths['csv'].name}`.",
        "",
        "## Runs",
        "",
        *_runs_table(records, ids, varied),
    ]
    lines += _failed_table(records, ids, varied) + _images(paths, out, records, ids) + _why(records)
    return "\n".join(lines) + "\n"
