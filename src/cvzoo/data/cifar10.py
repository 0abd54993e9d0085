"""``cifar10``: torchvision's CIFAR-10, downloaded to ``paths.data_dir`` on first use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset

from cvzoo.data.memory import TensorImageDataset, resize_uint8
from cvzoo.data.splits import DatasetSplits, make_splits
from cvzoo.errors import DataError


def _download(root: Path, train: bool) -> Any:
    """Fetch one CIFAR-10 split, turning network failures into one DataError line."""
    from torchvision.datasets import CIFAR10

    try:
        return CIFAR10(root=str(root), train=train, download=True)
    except (OSError, RuntimeError) as err:
        raise DataError(
            f"cifar10 could not be downloaded to {root} ({str(err).splitlines()[0]}); connect to "
            "the internet once, or put cifar-10-batches-py there and set paths.data_dir"
        ) from err


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Load CIFAR-10: torchvision's test set is the test split, val is carved from train."""
    root = Path(str(cfg["root"]))
    train_set, test_set = _download(root, True), _download(root, False)
    size = int(cfg["image_size"])

    def as_dataset(ds: Any) -> TensorImageDataset:
        images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)
        return TensorImageDataset(resize_uint8(images, size), torch.tensor(ds.targets))

    train_full = as_dataset(train_set)
    labels = train_full.targets.numpy()
    split_cfg = {**cfg, "test_fraction": 0.0}
    train, val, _ = make_splits(train_full, labels, split_cfg)
    test = ConcatDataset([as_dataset(test_set)])
    return DatasetSplits(train, val, test, class_names=list(train_set.classes), task="classification")
