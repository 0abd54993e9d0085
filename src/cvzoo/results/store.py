"""Find run records under directory trees, filter them with ``key=value`` and summarize them."""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cvzoo.errors import ConfigError, DataError, suggestion
from cvzoo.results.record import RECORD_NAME, get_value, load_record

METRIC_SECTIONS = ("best_val", "final_val", "test")
# Top-level fields that are bookkeeping, not something to filter or pivot on.
_NOT_KEYS = (
    "config", "history", "per_class", "confusion_matrix", "curves", "class_names", "versions",
    *METRIC_SECTIONS,
)  # fmt: skip


class RecordWarning(UserWarning):
    """A ``result.json`` could not be read (truncated, corrupt, vanished) and was skipped."""


def parse_where(items: Sequence[str]) -> dict[str, str]:
    """Turn ``["dataset=shapes", "optimizer.lr=0.01"]`` into ``{key: value}``; bad items raise."""
    where: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"bad --where item {item!r}: expected key=value, e.g. dataset=shapes or "
                "backbone.name=resnet18"
            )
        where[key.strip()] = value.strip()
    return where


def record_time(record: Mapping[str, Any], path: Path | None = None) -> float:
    """Seconds since the epoch when the run finished (else started, else the file's mtime)."""
    for field in ("finished_at", "started_at"):
        stamp = record.get(field)
        if isinstance(stamp, str) and stamp:
            try:
                return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    try:
        return (path or Path(record.get("run_dir", "")) / RECORD_NAME).stat().st_mtime
    except OSError:
        return 0.0


def _warn(message: str) -> None:
    """Default sink for unreadable records: a Python warning."""
    warnings.warn(message, RecordWarning, stacklevel=3)


def scan_records(
    dirs: Sequence[str | Path] = ("logs",), on_warning: Callable[[str], None] | None = None
) -> list[dict]:
    """Load every result.json under ``dirs``, newest first; unreadable ones go to ``on_warning``."""
    sink = on_warning or _warn
    found: list[tuple[float, str, dict]] = []
    seen: set[Path] = set()
    for root in dirs:
        root = Path(root)
        if not root.exists():
            raise DataError(f"no such directory {str(root)!r}; pass the directory holding the runs")
        paths = [root] if root.is_file() else sorted(root.rglob(RECORD_NAME))
        for path in paths:
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            try:
                record = load_record(path)
            except (OSError, ValueError) as err:  # JSONDecodeError is a ValueError
                sink(f"skipped unreadable record {path}: {type(err).__name__}: {err}")
                continue
            if not isinstance(record, dict):
                sink(f"skipped unreadable record {path}: top level is not a JSON object")
                continue
            found.append((record_time(record, path), str(path), record))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [record for _, _, record in found]


def matches(value: Any, wanted: str) -> bool:
    """Whether a record value equals the ``--where`` string (numbers compared as numbers)."""
    if value is None:
        return wanted.lower() in ("null", "none", "")
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    if isinstance(value, int | float):
        try:
            return math.isclose(float(value), float(wanted), rel_tol=1e-9, abs_tol=1e-12)
        except ValueError:
            return False
    if isinstance(value, Mapping) and "name" in value:  # e.g. where backbone=... on a config node
        return str(value["name"]) == wanted
    return str(value) == wanted


def _config_keys(node: Any, prefix: str = "") -> Iterable[str]:
    """Dotted keys of every leaf (and inner node) of a nested config."""
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        yield dotted
        yield from _config_keys(value, dotted + ".")


def metric_names(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Sorted names of every metric found in ``best_val``, ``final_val`` or ``test`` of records."""
    names: set[str] = set()
    for record in records:
        for section in METRIC_SECTIONS:
            names.update((record.get(section) or {}).keys())
    return sorted(names)


def available_keys(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key ``get_value`` answers for some record: fields, metrics, dotted config keys."""
    records = list(records)
    keys: set[str] = set(metric_names(records))
    for record in records:
        keys.update(k for k in record if k not in _NOT_KEYS)
        keys.update(_config_keys(record.get("config") or {}))
    return sorted(keys)


def check_key(records: Sequence[Mapping[str, Any]], key: str, what: str = "key") -> None:
    """Raise ConfigError when no record knows ``key`` (only when there are records at all)."""
    if not records or any(get_value(r, key) is not None for r in records):
        return
    pool = metric_names(records) if what == "metric" else available_keys(records)
    hint = suggestion(key, pool) or f"available: {', '.join(pool[:12])}"
    raise ConfigError(f"no record has {what} {key!r} ({len(records)} records); {hint}")


def filter_records(
    records: Sequence[Mapping[str, Any]],
    where: Mapping[str, str] | None = None,
    status: str | None = None,
) -> list[dict]:
    """Keep records whose ``status`` and every ``where`` key match (keys validated first)."""
    for key in where or {}:
        check_key(records, key)
    kept = []
    for record in records:
        if status is not None and record.get("status") != status:
            continue
        if all(matches(get_value(record, k), v) for k, v in (where or {}).items()):
            kept.append(dict(record))
    return kept


def find_records(
    dirs: Sequence[str | Path] = ("logs",),
    where: Mapping[str, str] | None = None,
    status: str | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> list[dict]:
    """All ``result.json`` under ``dirs``, newest first, filtered by ``where`` and ``status``."""
    return filter_records(scan_records(dirs, on_warning), where, status)


def _test_metric(record: Mapping[str, Any]) -> tuple[str | None, Any]:
    """The test twin of the monitored metric (``val/mIoU`` -> ``test/mIoU``), else the first."""
    test = record.get("test") or {}
    monitor = str(record.get("monitor") or "")
    name = "test/" + monitor.split("/", 1)[-1] if monitor else None
    if name not in test:
        name = next(iter(test), None)
    return name, test.get(name) if name else None


def summarize_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The flat row ``cvzoo results`` shows for one record (status, cell, metrics, time, error)."""
    monitor = record.get("monitor")
    test_name, test_value = _test_metric(record)
    return {
        "finished_at": record.get("finished_at") or record.get("started_at"),
        "status": record.get("status"),
        "backbone": record.get("backbone"),
        "head": record.get("head"),
        "dataset": record.get("dataset"),
        "fraction": record.get("fraction"),
        "seed": record.get("seed"),
        "monitor": monitor,
        "monitor_value": (record.get("best_val") or {}).get(monitor) if monitor else None,
        "test_metric": test_name,
        "test_value": test_value,
        "train_time_s": record.get("train_time_s"),
        "run_dir": record.get("run_dir"),
        "error": record.get("error"),
    }


LIST_FORMATS = ("table", "csv", "json")
_ERROR_WIDTH = 60


def _named_value(name: str | None, value: Any) -> str:
    """``val/acc=0.9312``, or empty when the value is missing."""
    return f"{name}={value:.4f}" if name and isinstance(value, int | float) else ""


def _table_row(row: Mapping[str, Any]) -> dict[str, str]:
    """One summary as the short strings of the text table."""
    error = str(row["error"] or "").splitlines()[0] if row["error"] else ""
    metric = _named_value(row["monitor"], row["monitor_value"])
    test = _named_value(row["test_metric"], row["test_value"])
    seconds = row["train_time_s"]
    return {
        "finished": str(row["finished_at"] or "")[:19].replace("T", " "),
        "status": str(row["status"] or "?"),
        "backbone": str(row["backbone"] or ""),
        "head": str(row["head"] or ""),
        "dataset": str(row["dataset"] or ""),
        "seed": "" if row["seed"] is None else str(row["seed"]),
        "monitor": metric,
        "test": test,
        "time": f"{seconds:.0f}s" if isinstance(seconds, int | float) else "",
        "run_dir": str(row["run_dir"] or ""),
        "error": error[:_ERROR_WIDTH] + ("…" if len(error) > _ERROR_WIDTH else ""),
    }


def format_listing(records: Sequence[Mapping[str, Any]], fmt: str = "table") -> str:
    """Render records (already ordered) as an aligned text table, CSV or JSON."""
    if fmt not in LIST_FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(LIST_FORMATS)}")
    rows = [summarize_record(r) for r in records]
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str)
    if fmt == "csv":
        buffer = io.StringIO()
        pd.DataFrame(rows, columns=list(summarize_record({}))).to_csv(buffer, index=False)
        return buffer.getvalue().rstrip("\n")
    if not rows:
        return "no records found"
    return _align([_table_row(r) for r in rows])


def _align(rows: Sequence[Mapping[str, str]]) -> str:
    """Left-aligned columns separated by two spaces; columns empty in every row are dropped."""
    columns = [c for c in rows[0] if c in ("status", "run_dir") or any(r[c] for r in rows)]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = [[c.ljust(widths[c]) for c in columns]]
    lines += [[r[c].ljust(widths[c]) for c in columns] for r in rows]
    return "\n".join("  ".join(line).rstrip() for line in lines)
