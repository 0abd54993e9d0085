"""A callback that keeps per-epoch history and measures training throughput for the run record."""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch


def _float(value: Any) -> float | None:
    """A tensor or number as a finite float, else None."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            return None
        value = value.item()
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


class RunStats(L.Callback):
    """Record one history row per validation and the images/s of training steps."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self.train_images = 0
        self.train_seconds = 0.0
        self._t0 = 0.0
        self._epoch_loss: list[float] = []

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Start the step clock."""
        self._t0 = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Stop the step clock and keep the step's loss."""
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.train_seconds += time.perf_counter() - self._t0
        self.train_images += len(batch[0])
        loss = _float(outputs["loss"] if isinstance(outputs, dict) else outputs)
        if loss is not None:
            self._epoch_loss.append(loss)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Append the epoch's mean train loss and every val metric to the history."""
        if trainer.sanity_checking:
            return
        row: dict[str, float] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        loss = self._mean_train_loss(trainer)
        if loss is not None:
            row["train/loss"] = loss
        self._epoch_loss = []
        for key, value in trainer.callback_metrics.items():
            number = _float(value)
            if key.startswith("val/") and number is not None:
                row[key] = number
        lrs = [group["lr"] for opt in trainer.optimizers for group in opt.param_groups]
        if lrs:
            row["lr"] = max(lrs)
        self.history.append(row)

    def _mean_train_loss(self, trainer: L.Trainer) -> float | None:
        """The mean loss of the epoch's training steps on every process (under DDP all ranks call this)."""
        total = torch.tensor([sum(self._epoch_loss), len(self._epoch_loss)], dtype=torch.float64)
        if trainer.world_size > 1:
            total = trainer.strategy.reduce(total.to(trainer.strategy.root_device), reduce_op="sum").cpu()
        return float(total[0] / total[1]) if total[1] > 0 else None

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the history so far (a continued run shows each epoch once)."""
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the history of the epochs the checkpoint already holds."""
        self.history = list(state_dict.get("history", []))

    @property
    def images_per_second(self) -> float | None:
        """Training throughput over all timed steps."""
        return self.train_images / self.train_seconds if self.train_seconds > 0 else None

    def best(self, monitor: str, mode: str) -> dict[str, float]:
        """The history row with the best monitored value (empty when none has it)."""
        rows = [r for r in self.history if monitor in r]
        if not rows:
            return {}
        pick = max if mode == "max" else min
        return pick(rows, key=lambda r: r[monitor])
