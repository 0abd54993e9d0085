"""The comparison report of a sweep: one table row per run, curves, confusion matrices, IoU bars.

``write_report(dirs_or_records, out_dir)`` writes ``report.md``, ``report.csv`` and PNG plots;
``cvzoo report`` and the end of every multirun call it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cvzoo.errors import ConfigError, DataError
from cvzoo.results.store import find_records
from cvzoo.tasks import TASKS

REPORT_MD, REPORT_CSV = "report.md", "report.csv"
# Task metrics in the order they are shown (classification, then segmentation).
METRIC_ORDER = tuple(name for task in TASKS.values() for name in task.report_metrics)
# Config groups whose choice has one label per record; their inner keys follow the label.
GROUPS = ("backbone", "head", "dataset", "augmentation", "optimizer", "scheduler")
SHOWN = ("backbone", "head", "augmentation", "optimizer")  # always columns of the table
# Config keys that say where things go or how they are logged, never what is computed.
_NOT_HPARAMS = (
    "paths",
    "hydra",
    "logger",
    "callbacks",
    "ckpt_path",
    "resume",
    "resume_from",
    "task_name",
    "test",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "trainer.devices",
    "trainer.oom_retry",
    "dataset.num_workers",
)
_PATH_LIKE = re.compile(r"(^|_)(dir|root|path|dirpath)$")


def collect_records(items: str | Path | Sequence[Any]) -> tuple[list[dict], Path | None]:
    """Records from run/sweep directories or record dicts, and the first directory given."""
    items = [items] if isinstance(items, str | os.PathLike) else list(items)
    records = [dict(i) for i in items if isinstance(i, Mapping)]
    dirs = [Path(i) for i in items if isinstance(i, str | os.PathLike)]
    if dirs:
        records += find_records(dirs)
    if not records:
        where = " ".join(map(str, dirs)) or "the given records"
        raise DataError(f"no result.json under {where}; pass a sweep dir or run dirs that trained")
    return records, (dirs or [None])[0]


def augmentation_label(record: Mapping[str, Any]) -> str:
    """``basic+jpeg`` in the order the blocks run (``none`` when there are none)."""
    node = (record.get("config") or {}).get("augmentation")
    names = list(node) if isinstance(node, Mapping) else list(record.get("augmentation") or [])
    return "+".join(map(str, names)) or "none"


def group_label(record: Mapping[str, Any], group: str) -> str:
    """The record's choice for a config group (its name, e.g. ``resnet18``, ``adamw``)."""
    if group == "augmentation":
        return augmentation_label(record)
    value = record.get(group)
    if value is None:
        value = ((record.get("config") or {}).get(group) or {}).get("name")
    return "" if value is None else str(value)


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted leaf keys of a nested config (lists kept whole)."""
    if not isinstance(node, Mapping):
        return {prefix.rstrip("."): node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_leaves(value, f"{prefix}{key}."))
    return out


def _hparam_leaves(record: Mapping[str, Any]) -> dict[str, Any]:
    """Config leaves that can change a result (paths, loggers and callbacks left out)."""
    leaves = _leaves(record.get("config") or {})
    return {k: v for k, v in leaves.items() if not _skipped(k)}


def _skipped(key: str) -> bool:
    """Whether a dotted config key is bookkeeping (where things go, how they are shown)."""
    inside = any(key == k or key.startswith(k + ".") for k in _NOT_HPARAMS)
    return inside or bool(_PATH_LIKE.search(key.split(".")[-1]))


def _follows(values: Sequence[Any], labels: Sequence[str]) -> bool:
    """True when ``values`` are a function of ``labels`` (one value per label)."""
    seen: dict[str, str] = {}
    return all(seen.setdefault(lab, repr(v)) == repr(v) for lab, v in zip(labels, values))


def varied_keys(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Hyperparameters that differ between records: group choices, then other config keys.

    A key inside a group (``optimizer.momentum``) is left out when it just follows the group's
    choice (``optimizer``) or the dataset.
    """
    varied: dict[str, list[Any]] = {}
    for group in GROUPS:
        labels = [group_label(r, group) for r in records]
        if len(set(labels)) > 1:
            varied[group] = labels
    leaves = [_hparam_leaves(r) for r in records]
    for key in sorted(set().union(*leaves)):
        values = [leaf.get(key) for leaf in leaves]
        if len({repr(v) for v in values}) < 2:
            continue
        owners = [g for g in (key.split(".")[0], "dataset") if g in varied]
        if not any(_follows(values, varied[g]) for g in owners):
            varied[key] = values
    return varied


def run_ids(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Short unique names: run directories relative to their common parent (``0``, ``1``, ...)."""
    dirs = [str(r.get("run_dir") or f"run{i}") for i, r in enumerate(records)]
    if len(dirs) > 1:
        try:
            common = os.path.commonpath(dirs)
            dirs = [os.path.relpath(d, common) for d in dirs]
        except ValueError:
            pass
    ids = [Path(d).name if d in (".", "") else d for d in dirs]
    return [i if ids.count(i) == 1 else f"{i}-{n}" for n, i in enumerate(ids)]


def file_id(run_id: str) -> str:
    """A run id usable in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_") or "run"


def monitor_value(record: Mapping[str, Any]) -> float | None:
    """The monitored metric at the best epoch, when finite."""
    value = (record.get("best_val") or {}).get(str(record.get("monitor")))
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def sort_records(records: Sequence[dict]) -> list[dict]:
    """Ok runs best first by their monitored metric (most common monitor first), then the rest."""
    monitors = [r.get("monitor") for r in records if r.get("monitor")]
    main = max(set(monitors), key=monitors.count) if monitors else None

    def key(record: Mapping[str, Any]) -> tuple:
        value = monitor_value(record)
        failed = record.get("status") != "ok"
        sign = -1.0 if record.get("monitor_mode", "max") == "max" else 1.0
        return (failed, record.get("monitor") != main, value is None, sign * (value or 0.0))

    return sorted(records, key=key)


def metric_rank(name: str) -> tuple[int, str]:
    """Sort key: task metrics in METRIC_ORDER, then the rest alphabetically."""
    short = name.split("/", 1)[-1]
    return (METRIC_ORDER.index(short) if short in METRIC_ORDER else len(METRIC_ORDER), name)


def metric_columns(records: Sequence[Mapping[str, Any]], section: str) -> list[str]:
    """Metric names of ``section`` (``test`` or ``best_val``) in any record, losses last."""
    names = {n for r in records for n in (r.get(section) or {})}
    return sorted(names, key=lambda n: (n.endswith("/loss"), *metric_rank(n)))


def report_table(
    records: Sequence[Mapping[str, Any]], ids: Sequence[str], varied: Mapping[str, Sequence[Any]]
) -> pd.DataFrame:
    """One row per run: the recipe, varied hyperparameters, cost and every metric (report.csv)."""
    extra = [k for k in varied if k not in SHOWN]
    val_cols, test_cols = metric_columns(records, "best_val"), metric_columns(records, "test")
    rows = []
    for i, (run, record) in enumerate(zip(ids, records)):
        row = {"run": run, "status": record.get("status")}
        row.update({g: group_label(record, g) for g in (*SHOWN, "dataset", "scheduler")})
        row.update({k: varied[k][i] for k in extra if k not in row})
        row.update(
            {
                k: record.get(k)
                for k in (
                    "seed",
                    "epochs",
                    "params",
                    "flops_per_image",
                    "train_time_s",
                    "train_images_per_s",
                    "monitor",
                )
            }
        )
        row.update({c: (record.get("best_val") or {}).get(c) for c in val_cols})
        row.update({c: (record.get("test") or {}).get(c) for c in test_cols})
        row.update(error=record.get("error"), run_dir=record.get("run_dir"))
        rows.append(row)
    return pd.DataFrame(rows)


def write_report(
    run_dirs_or_records: str | Path | Sequence[Any],
    out_dir: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Path]:
    """Write report.md, report.csv and the PNG plots into ``out_dir`` (default: the first dir).

    Returns ``{"md": ..., "csv": ..., "curves": ..., "hparams": ..., "confusion/<run>": ...,
    "per_class_iou/<run>": ...}`` for the files written.
    """
    from cvzoo.results.report_markdown import render_markdown
    from cvzoo.results.report_plots import write_figures

    records, first_dir = collect_records(run_dirs_or_records)
    target = out_dir if out_dir is not None else first_dir
    if target is None:
        raise ConfigError("write_report got records but no out_dir; pass out_dir=<directory>")
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    records = sort_records(records)
    ids, varied = run_ids(records), varied_keys(records)
    table = report_table(records, ids, varied)
    paths = {"csv": out / REPORT_CSV, "md": out / REPORT_MD}
    table.to_csv(paths["csv"], index=False)
    paths.update(write_figures(records, ids, varied, out, progress))
    paths["md"].write_text(render_markdown(records, ids, varied, paths, out))
    return paths
