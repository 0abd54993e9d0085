"""The LightningDataModule shared by every dataset: loaders over a ``DatasetSplits``."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from cvzoo.data.epoch_order import EpochShuffle
from cvzoo.data.splits import DatasetSplits
from cvzoo.tasks import get_task


class CvzooDataModule(L.LightningDataModule):
    """Serve the train/val/test splits as uint8 batches (augmentation happens on the device)."""

    def __init__(self, splits: DatasetSplits, batch_size: int, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.splits, self.seed = splits, int(seed)
        self.batch_size = batch_size
        self.num_workers = num_workers

    def _loader(self, dataset: Dataset, shuffle: bool, drop_last: bool = False) -> DataLoader:
        """One DataLoader with the shared settings."""
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochShuffle(len(dataset), self.seed) if shuffle else None,
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=get_task(self.splits.task).collate,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (order set by seed and epoch), without a last batch of one sample
        (BatchNorm cannot train on it)."""
        return self._loader(self.splits.train, shuffle=True, drop_last=self._last_batch_is_single())

    def _last_batch_is_single(self) -> bool:
        """True when each process's last training batch would hold one sample (its shard under DDP)."""
        world = self.trainer.world_size if self.trainer is not None else 1
        per_process = math.ceil(len(self.splits.train) / world)
        return self.batch_size > 1 and per_process % self.batch_size == 1

    def val_dataloader(self) -> DataLoader:
        """Validation batches in a fixed order."""
        return self._loader(self.splits.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches in a fixed order."""
        return self._loader(self.splits.test, shuffle=False)
