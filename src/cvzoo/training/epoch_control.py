"""Training in stages: stop after N epochs of a longer schedule, and epochs that do not depend on
how the run was split into stages (each epoch's randomness is a function of seed and epoch,
the data order ``cvzoo.data.epoch_order``).

``trainer.stop_after_epochs=N`` ends ``fit`` after epoch N while the learning-rate schedule stays
defined on ``trainer.max_epochs``; continuing the run from ``last.ckpt`` (``ckpt_path``) trains
epoch N + 1 onwards exactly as a run trained straight through would.
"""

from __future__ import annotations

import lightning as L
from lightning.fabric.utilities.seed import seed_everything

from cvzoo.data.epoch_order import epoch_seed
from cvzoo.errors import ConfigError


def stop_after_epochs(value: object) -> int | None:
    """``trainer.stop_after_epochs`` checked: None (train to ``max_epochs``) or a whole number >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"trainer.stop_after_epochs={value!r} is invalid; use a whole number of epochs >= 1, or null"
        )
    return value


class SeedEachEpoch(L.Callback):
    """Reseed Python, NumPy and torch at the start of every training epoch (augmentation, dropout)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Seed this epoch from (seed, epoch)."""
        seed_everything(epoch_seed(self.seed, trainer.current_epoch), workers=True, verbose=False)


class StopAfterEpochs(L.Callback):
    """End training once ``epochs`` epochs are done (the schedule keeps ``trainer.max_epochs``)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = int(epochs)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A run continued from a checkpoint that already holds the epochs trains none."""
        if trainer.current_epoch >= self.epochs:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Stop after the epoch that reaches the target."""
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True
