"""Which checkpoint to use: ``ckpt=PATH``, or the best ``ok`` record of a sweep (``from=DIR [pick=b,h]``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvzoo.errors import ConfigError, DataError, suggestion
from cvzoo.inference.checkpoint import record_of
from cvzoo.results.store import find_records


@dataclass
class Source:
    """A checkpoint and the run record it came from (None when the run has no record)."""

    checkpoint: Path
    record: dict[str, Any] | None


def best_value(record: Mapping[str, Any]) -> float | None:
    """The record's monitored metric at its best epoch (``best_val[monitor]``), if finite."""
    value = (record.get("best_val") or {}).get(str(record.get("monitor")))
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def best_record(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The record with the best monitored value (``monitor_mode`` max or min)."""
    scored = [r for r in records if best_value(r) is not None]
    if not scored:
        raise DataError(
            "no ok record has a finite best_val for its monitor; check the sweep's result.json files"
        )
    sign = lambda r: -1.0 if str(r.get("monitor_mode", "max")) == "min" else 1.0  # noqa: E731
    return dict(max(scored, key=lambda r: sign(r) * best_value(r)))


def _cell(record: Mapping[str, Any]) -> str:
    """``backbone,head`` of a record (the form ``pick=`` takes)."""
    return f"{record.get('backbone')},{record.get('head')}"


def pick_record(records: Sequence[Mapping[str, Any]], pick: str, where: str) -> list[dict[str, Any]]:
    """Keep the records whose ``backbone,head`` equals ``pick`` (raising with the closest cells)."""
    wanted = ",".join(part.strip() for part in str(pick).split(","))
    if wanted.count(",") != 1:
        raise ConfigError(f"pick={pick!r} must be <backbone>,<head>, e.g. pick=test_resnet,linear")
    kept = [dict(r) for r in records if _cell(r) == wanted]
    if not kept:
        cells = sorted({_cell(r) for r in records})
        hint = suggestion(wanted, cells) or f"available: {' '.join(cells)}"
        raise ConfigError(f"pick={wanted} matches no ok record under {where}; {hint}")
    return kept


def resolve_source(ckpt: Any = None, sweep: Any = None, pick: Any = None) -> Source:
    """Turn ``ckpt=`` or ``from=`` (+ ``pick=``) into a checkpoint path and its record."""
    if (ckpt is None) == (sweep is None):
        raise ConfigError("give exactly one of ckpt=<path/to/best.ckpt> or from=<sweep or run dir>")
    if ckpt is not None:
        path = Path(str(ckpt)).expanduser()
        if not path.is_file():
            raise DataError(f"ckpt={path} does not exist; pass ckpt=<run>/checkpoints/best.ckpt")
        return Source(path, record_of(path))
    root = Path(str(sweep)).expanduser()
    if not root.is_dir():
        raise DataError(f"from={root} is not a directory; pass a sweep dir such as logs/train/multiruns/<ts>")
    records = find_records([root], status="ok", on_warning=lambda _msg: None)
    if not records:
        raise DataError(f"from={root} holds no result.json with status ok; train first or pick another dir")
    if pick is not None:
        records = pick_record(records, str(pick), str(root))
    record = best_record(records)
    path = Path(str(record.get("checkpoint") or ""))
    if not path.is_file():
        raise DataError(
            f"the best record {record.get('run_dir')} names no existing checkpoint ({path}); retrain it"
        )
    return Source(path, record)
