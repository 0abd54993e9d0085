"""``cifar10``: torchvision's CIFAR-10, downloaded to ``paths.data_dir`` on first use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import ConcatDataset

from cvzoo.data.cache import CacheSpec, Decoded
from cvzoo.data.files import decode_settings, merge_statuses, open_items
from cvzoo.data.folder import ImageFileDataset
from cvzoo.data.resize import fit_image
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


class ArrayDecode:
    """Decode function of an in-memory ``(N, H, W, 3)`` uint8 array: item ``i`` as a ``size`` square."""

    def __init__(self, data: np.ndarray, size: int, mode: str) -> None:
        self.data = data
        self.size, self.mode = size, mode

    def __call__(self, index: int) -> Decoded:
        return {"image": fit_image(Image.fromarray(self.data[index]), self.size, self.mode)}


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Load CIFAR-10: torchvision's test set is the test split, val is carved from train."""
    root = Path(str(cfg["root"]))
    train_set, test_set = _download(root, True), _download(root, False)
    settings, size = decode_settings(cfg)
    statuses = []

    def as_dataset(ds: Any, split: str) -> ImageFileDataset:
        files = [
            Path(ds.root) / ds.base_folder / name for name, _ in (ds.train_list if ds.train else ds.test_list)
        ]
        decode = ArrayDecode(ds.data, size, settings.resize)
        spec = CacheSpec(f"cifar10-{split}", files, len(ds.data), decode, {"size": size}, size=size)
        items, _, status = open_items(spec, cfg, [])
        statuses.append(status)
        return ImageFileDataset(items, ds.targets)

    train_full = as_dataset(train_set, "train")
    split_cfg = {**cfg, "test_fraction": 0.0}
    train, val, _ = make_splits(train_full, train_full.labels, split_cfg)
    test = ConcatDataset([as_dataset(test_set, "test")])
    splits = DatasetSplits(train, val, test, class_names=list(train_set.classes), task="classification")
    splits.extra["data_cache"] = merge_statuses(statuses)
    return splits
