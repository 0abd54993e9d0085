"""``oxford_pets``: Oxford-IIIT Pet trimaps from torchvision, downloaded to ``paths.data_dir``.

Trimap values: 1 = pet, 2 = background, 3 = border (the uncertain outline). Classes are
``background`` (0) and ``pet`` (1); the border becomes ``ignore_index`` (``border: ignore``,
the usual choice: it is neither scored nor trained on) or a third class (``border: class``).
torchvision's ``test`` split is the test split; val is carved from ``trainval``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cvzoo.data.images import decode_image
from cvzoo.data.masks import read_mask, resize_mask
from cvzoo.data.splits import DatasetSplits, make_splits
from cvzoo.errors import ConfigError, DataError

BORDER_CHOICES = ("ignore", "class")


def trimap_lookup(border: str, ignore_index: int) -> tuple[np.ndarray, list[str]]:
    """A table from trimap value to class index, and the class names."""
    if border not in BORDER_CHOICES:
        raise ConfigError(f"dataset.border={border!r} must be one of {', '.join(BORDER_CHOICES)}")
    table = np.full(256, ignore_index, dtype=np.int64)
    table[1], table[2] = 1, 0
    names = ["background", "pet"]
    if border == "class":
        table[3] = 2
        names.append("border")
    return table, names


class PetSegmentation(Dataset):
    """Pet images and trimaps decoded on access, resized to ``size`` and mapped through ``table``."""

    def __init__(self, images: Sequence[Path], trimaps: Sequence[Path], size: int, table: np.ndarray) -> None:
        self.images, self.trimaps = list(images), list(trimaps)
        self.size = size
        self.table = table

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        trimap = resize_mask(read_mask(self.trimaps[index]), self.size)
        mask = self.table[np.clip(trimap, 0, 255)]
        return decode_image(self.images[index], self.size), torch.from_numpy(mask)


def _download(root: Path, split: str) -> Any:
    """Fetch one split (once), turning network failures into one DataError line."""
    from torchvision.datasets import OxfordIIITPet

    try:
        return OxfordIIITPet(root=str(root), split=split, target_types="segmentation", download=True)
    except (OSError, RuntimeError) as err:
        raise DataError(
            f"oxford_pets could not be downloaded to {root} ({str(err).splitlines()[0]}); connect to "
            "the internet once, or put oxford-iiit-pet/{images,annotations} there and set paths.data_dir"
        ) from err


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Load the trainval (train + val) and test splits as segmentation pairs."""
    root = Path(str(cfg["root"]))
    ignore_index = int(cfg.get("ignore_index", 255))
    table, names = trimap_lookup(str(cfg.get("border", "ignore")), ignore_index)
    size = int(cfg["image_size"])

    def as_dataset(split: str) -> PetSegmentation:
        # torchvision lists the files (``_images``/``_segs``); cvzoo decodes and resizes them.
        ds = _download(root, split)
        return PetSegmentation(ds._images, ds._segs, size, table)

    trainval = as_dataset("trainval")
    train, val, _ = make_splits(trainval, None, {**cfg, "test_fraction": 0.0})
    test = as_dataset("test")
    return DatasetSplits(train, val, test, class_names=names, task="segmentation", ignore_index=ignore_index)
