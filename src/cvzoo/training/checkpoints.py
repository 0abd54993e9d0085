"""Checkpoints that survive a kill: atomic writes, and a check that a file on disk is whole."""

from __future__ import annotations

import io
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cvzoo.faults import write_with_faults

log = logging.getLogger(__name__)
CHECKPOINT_DIR = "checkpoints"
# Tried in this order when a run is continued: the newest state first, then the best epoch.
RESUME_ORDER = ("last.ckpt", "best.ckpt")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temp file, fsync, then rename: a kill leaves the old file whole."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        """Save ``checkpoint`` to ``path`` atomically (same directory, temp name, rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a killed earlier write
            stale.unlink(missing_ok=True)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                write_with_faults(handle, buffer.getvalue(), "ckpt_write")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why a checkpoint file cannot be loaded (empty, truncated, not a torch zip), None if whole."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile) as err:
        return f"unreadable ({type(err).__name__}: {err})"
    return f"corrupt member {bad}" if bad else None


def usable_checkpoint(run_dir: str | os.PathLike) -> tuple[str | None, list[str]]:
    """The checkpoint to continue ``run_dir`` from, and one note per damaged file passed over."""
    notes: list[str] = []
    for name in RESUME_ORDER:
        path = Path(run_dir) / CHECKPOINT_DIR / name
        if not path.is_file():
            continue
        problem = checkpoint_problem(path)
        if problem is None:
            return str(path), notes
        notes.append(f"{path} is damaged ({problem}), not used")
    return None, notes
