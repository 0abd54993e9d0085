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
from torch.utils.data import Dataset, Subset

from cvzoo.data.cache import CacheSpec, Decoded
from cvzoo.data.files import decode_settings, merge_statuses, open_items
from cvzoo.data.images import read_rgb
from cvzoo.data.masks import read_mask
from cvzoo.data.resize import fit_image, fit_mask
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


class TrimapDecode:
    """Decode function of pet image/trimap pairs: both as ``size`` squares, trimaps as raw uint8."""

    def __init__(self, images: Sequence[Path], trimaps: Sequence[Path], size: int, mode: str) -> None:
        self.images, self.trimaps = list(images), list(trimaps)
        self.size, self.mode = size, mode

    def __call__(self, index: int) -> Decoded:
        trimap = np.clip(read_mask(self.trimaps[index]), 0, 255).astype(np.uint8)
        image = read_rgb(self.images[index])
        return {
            "image": fit_image(image, self.size, self.mode),
            "trimap": fit_mask(trimap, self.size, self.mode, fill=0),  # 0 maps to ignore_index
        }


class PetSegmentation(Dataset):
    """Pet images and trimaps from the decode cache, trimaps mapped through ``table`` to classes."""

    def __init__(self, items: Dataset, table: np.ndarray) -> None:
        self.items = items
        self.table = table

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        item = self.items[index]
        return torch.from_numpy(item["image"]), torch.from_numpy(self.table[item["trimap"]])


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
    """Load the trainval (train + val) and test splits as segmentation pairs (decoded once, cached)."""
    root = Path(str(cfg["root"]))
    ignore_index = int(cfg.get("ignore_index", 255))
    table, names = trimap_lookup(str(cfg.get("border", "ignore")), ignore_index)
    settings, size = decode_settings(cfg)
    statuses = []

    def as_dataset(split: str) -> Subset:
        # torchvision lists the files (``_images``/``_segs``); cvzoo decodes and resizes them.
        ds = _download(root, split)
        decode = TrimapDecode(ds._images, ds._segs, size, settings.resize)
        key = {"size": size, "resize": settings.resize}
        spec = CacheSpec(
            f"oxford_pets-{split}", [*ds._images, *ds._segs], len(ds._images), decode, key, size=size
        )
        items, kept, status = open_items(spec, cfg, ds._images)
        statuses.append(status)
        return Subset(PetSegmentation(items, table), kept.tolist())

    trainval = as_dataset("trainval")
    train, val, _ = make_splits(trainval, None, {**cfg, "test_fraction": 0.0})
    test = as_dataset("test")
    splits = DatasetSplits(
        train, val, test, class_names=names, task="segmentation", ignore_index=ignore_index
    )
    splits.extra["data_cache"] = merge_statuses(statuses)
    return splits
