"""Callbacks that turn cluster events into clean stops: preemption signals and injected faults."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from cvzoo.errors import CvzooError
from cvzoo.faults import fault_point, oom_limit
from cvzoo.training.checkpoints import CHECKPOINT_DIR

log = logging.getLogger(__name__)
# SLURM sends SIGTERM on preemption and scancel, and --signal=USR1@<s> before the time limit;
# submitit's own preemption signal (USR2 by default) is handled too when it runs the job.
PREEMPT_SIGNALS = ("SIGTERM", "SIGUSR1")
SUBMITIT_SIGNAL_ENV = "SUBMITIT_PREEMPT_SIGNAL"


def preempt_signals() -> list[signal.Signals]:
    """The signals that mean "save and stop" in this process."""
    names = list(PREEMPT_SIGNALS)
    if os.environ.get("SUBMITIT_EXECUTOR"):
        names.append("SIG" + os.environ.get(SUBMITIT_SIGNAL_ENV, "USR2").upper().removeprefix("SIG"))
    return [getattr(signal, name) for name in dict.fromkeys(names)]


class RunInterrupted(CvzooError):
    """Training stopped on a preemption signal; ``checkpoint`` is what a re-run continues from."""

    def __init__(self, signum: int, stage: str = "training") -> None:
        super().__init__(signum, stage)
        self.signum, self.stage = signum, stage
        self.checkpoint: str | None = None
        self.saved_now = False
        self.previous: Any = None  # the handler before cvzoo's, e.g. submitit's requeue

    def __str__(self) -> str:
        """One line: the signal, the stage, what a re-run with +resume=true does."""
        head = f"interrupted by {signal.Signals(self.signum).name} during {self.stage}"
        if self.checkpoint is None:
            return f"{head}; no checkpoint yet, +resume=true starts this cell over"
        kept = "state saved to" if self.saved_now else "the last epoch's state is in"
        return f"{head}; {kept} {self.checkpoint}; continue with +resume=true"


def stop_after_signal(err: BaseException) -> None:
    """After the record says ``interrupted``: run the handler that was there before cvzoo's
    (submitit's requeue), then exit with 128 + the signal number."""
    signum = getattr(err, "signum", int(signal.SIGTERM))
    previous = getattr(err, "previous", None)
    if callable(previous):
        previous(signum, None)
    sys.exit(128 + signum)


class Preemption(L.Callback):
    """On SIGTERM/SIGUSR1 stop at the next batch boundary with a checkpoint a re-run continues from.

    Stopped in a training batch, the state is saved to ``last.ckpt`` then and there (a re-run trains
    the epoch's remaining number of batches, then validates). In the epoch's last batch the stop
    waits for the epoch's validation. Stopped in validation, the ``last.ckpt``
    of the previous epoch is kept (Lightning cannot restart a validation halfway), so that epoch's
    training is redone once.
    """

    def __init__(self, run_dir: Path) -> None:
        self.last = Path(run_dir) / CHECKPOINT_DIR / "last.ckpt"
        self.received: int | None = None
        self.validating = self.received_in_validation = False
        # Handlers in place before Lightning's (e.g. submitit's requeue), for stop_after_signal.
        self.previous = {int(s): signal.getsignal(s) for s in preempt_signals()}
        self._installed: dict[int, Any] = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Note the signal; the next batch boundary acts on it."""
        log.warning("received %s: stopping after this batch", signal.Signals(signum).name)
        self.received, self.received_in_validation = signum, self.validating

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Install the handlers (after Lightning's own, which would otherwise requeue or raise)."""
        for signum in self.previous:
            self._installed[signum] = signal.signal(signum, self._on_signal)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        """Stop after a training batch when signalled (after the epoch's validation at its last batch)."""
        loop = trainer.fit_loop.epoch_loop
        if self.received is not None and not loop.batch_progress.is_last_batch:
            raise RunInterrupted(self.received, "training")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A signal in the epoch's last batch stops here, after the epoch's validation."""
        if self.received is not None:
            raise RunInterrupted(self.received, "training")

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Note that validation (not the sanity check) runs."""
        self.validating = not trainer.sanity_checking

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Validation is over."""
        self.validating = False

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        """Stop after a validation batch when signalled."""
        if self.validating and self.received is not None and self.received_in_validation:
            raise RunInterrupted(self.received, "validation")

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        """Save ``last.ckpt`` for a run stopped in a training batch; say what a re-run continues from."""
        if isinstance(exception, SIGTERMException):  # Lightning's own stop, before on_train_start
            return
        if not isinstance(exception, RunInterrupted):
            return
        if exception.stage == "training" and not exception.saved_now and trainer.global_step > 0:
            trainer.save_checkpoint(str(self.last))
            exception.saved_now = True
        exception.checkpoint = str(self.last) if self.last.is_file() else None
        exception.previous = self.previous.get(self.received)
        self.teardown(trainer, pl_module, "fit")

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Put the previous handlers back."""
        for signum, handler in self._installed.items():
            signal.signal(signum, handler)
        self._installed = {}


class FaultInjector(L.Callback):
    """Test hooks of ``cvzoo.faults`` at training and validation batches (added only when set)."""

    def __init__(self) -> None:
        self.val_batches = 0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, *args: Any
    ) -> None:
        """Raise an injected out-of-memory error for batches above the configured size."""
        limit = oom_limit()
        if limit is not None and len(batch[0]) > limit:
            import torch

            raise torch.OutOfMemoryError(f"CUDA out of memory (injected for batches above {limit})")

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        """Fire ``train_step`` at the global step just finished."""
        fault_point("train_step", trainer.global_step)

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        """Fire ``val_batch`` on validation batches outside the sanity check."""
        if not trainer.sanity_checking:
            self.val_batches += 1
            fault_point("val_batch", self.val_batches)
