"""Resuming a sweep: reuse ``ok`` records of identical configs, continue half-done runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvzoo.results.store import find_records

LINK_NAME = "reused.txt"


def find_previous(log_dir: str | Path, config_hash: str) -> tuple[dict | None, dict | None]:
    """The newest ``ok`` record with this config hash, and the newest unfinished one."""
    if not Path(log_dir).is_dir():
        return None, None
    done = unfinished = None
    for record in find_records([log_dir], on_warning=lambda message: None):
        if record.get("config_hash") != config_hash:
            continue
        if record.get("status") == "ok" and done is None:
            done = record
        elif record.get("status") != "ok" and unfinished is None:
            unfinished = record
    return done, unfinished


def resumable_checkpoint(record: Mapping[str, Any] | None) -> str | None:
    """The ``last.ckpt`` a half-done run left behind, if any."""
    if not record:
        return None
    last = Path(str(record.get("run_dir", ""))) / "checkpoints" / "last.ckpt"
    return str(last) if last.is_file() else None


def link_reused(run_dir: str | Path, record: Mapping[str, Any]) -> None:
    """Leave a pointer in the skipped job's directory to the record it reused."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / LINK_NAME).write_text(str(record["run_dir"]) + "\n")


def linked_run_dirs(sweep_dir: str | Path) -> list[Path]:
    """Run directories that jobs of this sweep reused instead of training again."""
    return [Path(p.read_text().strip()) for p in sorted(Path(sweep_dir).rglob(LINK_NAME))]
