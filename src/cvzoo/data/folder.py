"""``folder``: an ImageFolder-style tree ``root/<class>/<image>`` (or ``root/{train,val,test}/<class>/``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from cvzoo.data.images import decode_image, keep_readable, list_images
from cvzoo.data.splits import DatasetSplits, make_splits, stratified_subset
from cvzoo.errors import DataError

SPLIT_NAMES = ("train", "val", "test")


class ImageFileDataset(Dataset):
    """Labelled image files decoded on access to uint8 tensors at a fixed size."""

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], size: int) -> None:
        self.paths = list(paths)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = decode_image(self.paths[index], self.size)
        return image, torch.tensor(self.labels[index])


def check_root(root: Any, name: str) -> Path:
    """Return ``root`` as a Path, or raise naming it when it is unset, missing or not a folder."""
    if root in (None, "", "???"):
        raise DataError(f"dataset={name} needs a folder: add dataset.root=/path/to/data")
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        raise DataError(f"dataset.root={path} does not exist or is not a folder; check the path")
    return path


def scan_classes(root: Path, policy: str) -> tuple[list[Path], list[int], list[str]]:
    """List readable images under ``root/<class>/`` with their class indices and class names."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        found = keep_readable(list_images(root / name), policy)
        paths += found
        labels += [index] * len(found)
    if not paths:
        raise DataError(
            f"dataset.root={root} holds no images in class folders; expected {root}/<class>/<image>.jpg"
        )
    return paths, labels, classes


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Scan the tree (checking every image up front) and split it deterministically."""
    root = check_root(cfg.get("root"), str(cfg.get("name", "folder")))
    policy = str(cfg.get("on_bad_image", "fail"))
    size = int(cfg["image_size"])
    if (root / "train").is_dir():
        return _load_presplit(root, cfg, policy, size)
    paths, labels, classes = scan_classes(root, policy)
    dataset = ImageFileDataset(paths, labels, size)
    train, val, test = make_splits(dataset, dataset.labels, cfg)
    return DatasetSplits(train, val, test, class_names=classes, task="classification")


def _load_presplit(root: Path, cfg: Mapping[str, Any], policy: str, size: int) -> DatasetSplits:
    """Use ``root/train``, ``root/val`` and ``root/test`` as given (val/test carved if missing)."""
    paths, labels, classes = scan_classes(root / "train", policy)
    train_full = ImageFileDataset(paths, labels, size)
    parts: dict[str, Dataset] = {}
    for split in ("val", "test"):
        if (root / split).is_dir():
            p, lab, names = scan_classes(root / split, policy)
            if names != classes:
                raise DataError(f"{root / split} has classes {names}, train has {classes}; make them match")
            parts[split] = ImageFileDataset(p, lab, size)
    if len(parts) == 2:
        seed = int(cfg.get("split_seed", 0))
        keep = stratified_subset(
            np.arange(len(train_full)), train_full.labels, float(cfg.get("fraction", 1.0)), seed
        )
        train: Dataset = Subset(train_full, keep.tolist())
    else:
        train, val, test = make_splits(train_full, train_full.labels, cfg)
        parts.setdefault("val", val)
        parts.setdefault("test", test)
    return DatasetSplits(train, parts["val"], parts["test"], class_names=classes, task="classification")
