"""Out of memory in a run: recognize it, name the batch size, and the half-batch retry config."""

from __future__ import annotations

import copy
import gc
from typing import Any

import torch
from omegaconf import DictConfig, open_dict

# Messages of the allocators (CUDA caching allocator, CPU DefaultCPUAllocator, MPS).
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is a CUDA/CPU out-of-memory error (torch's OutOfMemoryError or its message)."""
    if isinstance(err, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(err, RuntimeError) and any(text in str(err).lower() for text in _OOM_TEXT)


def oom_message(cfg: DictConfig, retried: bool) -> str:
    """The record's error line for an out-of-memory failure at the config's batch size."""
    size = int(cfg.dataset.batch_size)
    if retried:
        return f"out of memory at batch size {size} (after the retry at half the batch size)"
    return f"out of memory at batch size {size}; lower dataset.batch_size or set trainer.oom_retry=true"


def half_batch_config(cfg: DictConfig) -> tuple[DictConfig, dict[str, Any]]:
    """A copy of ``cfg`` at half the batch size with the lr scaled the same way, and what changed."""
    size = int(cfg.dataset.batch_size)
    lr = float(cfg.optimizer.lr)
    half = max(1, size // 2)
    retry = copy.deepcopy(cfg)
    with open_dict(retry):
        retry.dataset.batch_size = half
        retry.optimizer.lr = lr * half / size
    note = {"from_batch_size": size, "batch_size": half, "from_lr": lr, "lr": lr * half / size}
    return retry, note


def free_memory() -> None:
    """Release what a failed attempt left (Python garbage and the CUDA cache)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
