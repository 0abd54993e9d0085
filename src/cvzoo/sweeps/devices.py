"""Parallel sweep jobs on one machine: one GPU per job (file locks), or a share of the CPU threads."""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import IO

import torch

log = logging.getLogger(__name__)
_held: dict[int, IO] = {}  # GPU locks stay open for the life of the (possibly reused) worker


def claim_gpu(lock_dir: str | Path | None = None) -> int | None:
    """Lock a free GPU for this process (exclusive across jobs) and make it the only visible one."""
    count = torch.cuda.device_count()
    if count == 0:
        return None
    if _held:
        return next(iter(_held))
    folder = Path(lock_dir or tempfile.gettempdir()) / "cvzoo-gpu-locks"
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for index in range(count):
            handle = (folder / f"gpu{index}.lock").open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            _held[index] = handle
            torch.cuda.set_device(index)
            return index
        time.sleep(2.0)  # more jobs than GPUs: wait for one to be released


def split_threads(n_jobs: int) -> int:
    """Give this job its share of the CPU cores when ``n_jobs`` run at once."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, cores // max(1, n_jobs))
    torch.set_num_threads(threads)
    return threads
