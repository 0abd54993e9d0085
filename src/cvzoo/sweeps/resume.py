"""Resuming a sweep: where earlier records are, reuse ``ok`` ones, continue half-done runs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cvzoo.results.record import PAUSED, PROMOTED
from cvzoo.results.store import find_records
from cvzoo.training.checkpoints import usable_checkpoint

LINK_NAME = "reused.txt"
# SLURM sets this in a job it requeued (preemption, submitit's requeue): such a job continues.
REQUEUE_ENV = "SLURM_RESTART_COUNT"


def resume_requested(cfg: Mapping[str, Any]) -> bool:
    """True with ``+resume=true``, a ``resume_from`` directory, or inside a requeued SLURM job."""
    requeued = os.environ.get(REQUEUE_ENV, "0").strip() not in ("", "0")
    return bool(cfg.get("resume", False)) or bool(cfg.get("resume_from")) or requeued


def _as_list(value: Any) -> list[str]:
    """``resume_from`` as a list of paths (one path, a list, or nothing)."""
    if value is None or value == "":
        return []
    if isinstance(value, str | os.PathLike):
        return [str(value)]
    return [str(v) for v in value]


def record_dirs(
    own_dir: str | os.PathLike | None, log_dir: str | os.PathLike, resume_from: Any = None
) -> list[Path]:
    """Existing directories to search for earlier records, none nested inside another.

    ``own_dir`` is the sweep (or run) directory being resumed, which may live outside
    ``log_dir`` (a cluster's scratch disk); ``resume_from`` adds more.
    """
    candidates = [Path(p) for p in [own_dir, log_dir, *_as_list(resume_from)] if p]
    existing = [p.resolve() for p in candidates if p.is_dir()]
    kept: list[Path] = []
    for path in dict.fromkeys(existing):
        if not any(path == other or path.is_relative_to(other) for other in kept):
            kept = [k for k in kept if not k.is_relative_to(path)] + [path]
    return kept


def reached(record: Mapping[str, Any], epochs: int | None = None) -> bool:
    """True for an ``ok`` record trained to its end, or (``epochs``) at least that far."""
    if record.get("status") != "ok":
        return False
    if record.get("stop_reason") not in (PAUSED, PROMOTED):
        return True
    return epochs is not None and int(record.get("epochs") or 0) >= int(epochs)


def find_previous(
    dirs: Sequence[str | os.PathLike], config_hash: str, epochs: int | None = None
) -> tuple[dict | None, list[dict]]:
    """The newest record with this config hash that ``reached`` ``epochs`` (default: its end),
    and the unfinished ones, paused runs included (newest first)."""
    done, unfinished = None, []
    for record in find_records(list(dirs), on_warning=lambda message: None):
        if record.get("config_hash") != config_hash:
            continue
        if reached(record, epochs):
            done = done or record
        else:
            unfinished.append(record)
    return done, unfinished


def resumable_checkpoint(records: Iterable[Mapping[str, Any]]) -> tuple[str | None, list[str]]:
    """The first whole checkpoint that half-done runs left behind, and notes on damaged ones."""
    notes: list[str] = []
    for record in records:
        path, damaged = usable_checkpoint(str(record.get("run_dir", "")))
        notes += damaged
        if path:
            return path, notes
    return None, notes


def link_reused(run_dir: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Leave a pointer in the skipped job's directory to the record it reused."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / LINK_NAME).write_text(str(record["run_dir"]) + "\n")


def unlink_reused(run_dir: str | os.PathLike) -> None:
    """Drop a stale pointer from a job directory that trains this time."""
    (Path(run_dir) / LINK_NAME).unlink(missing_ok=True)


def linked_run_dirs(sweep_dir: str | os.PathLike) -> list[Path]:
    """Run directories that jobs of this sweep reused instead of training again."""
    return [Path(p.read_text().strip()) for p in sorted(Path(sweep_dir).rglob(LINK_NAME))]


def resume_counts(sweep_dir: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many of a sweep's cells were reused, continued from a checkpoint, or trained."""
    links = sorted(Path(sweep_dir).rglob(LINK_NAME))
    reused = {str(Path(p.read_text().strip()).resolve()) for p in links} | {
        str(p.parent.resolve()) for p in links
    }
    counts = {"reused": len(links), "continued": 0, "trained": 0}
    for record in records:
        if str(Path(str(record.get("run_dir", ""))).resolve()) in reused:
            continue
        counts["continued" if record.get("resumed_from") else "trained"] += 1
    return counts
