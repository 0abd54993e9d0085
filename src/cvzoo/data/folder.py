"""``folder``: an ImageFolder-style tree ``root/<class>/<image>`` (or ``root/{train,val,test}/<class>/``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from cvzoo.data.cache import CacheSpec, CacheStatus, Decoded
from cvzoo.data.files import decode_settings, merge_statuses, open_items
from cvzoo.data.images import list_images, read_fitted
from cvzoo.data.splits import DatasetSplits, make_splits, stratified_subset
from cvzoo.errors import DataError

SPLIT_NAMES = ("train", "val", "test")


class FolderDecode:
    """Decode function of a list of image files: item ``i`` is ``paths[i]`` as a ``size`` square."""

    def __init__(self, paths: Sequence[Path], size: int, mode: str) -> None:
        self.paths = list(paths)
        self.size = size
        self.mode = mode

    def __call__(self, index: int) -> Decoded:
        return {"image": read_fitted(self.paths[index], self.size, self.mode, draft=True)}


class ImageFileDataset(Dataset):
    """Labelled images, read from the decode cache (or decoded on access) as uint8 tensors."""

    def __init__(self, items: Dataset, labels: Sequence[int]) -> None:
        self.items = items
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = torch.from_numpy(self.items[index]["image"])
        return image, torch.tensor(self.labels[index])


def check_root(root: Any, name: str) -> Path:
    """Return ``root`` as a Path, or raise naming it when it is unset, missing or not a folder."""
    if root in (None, "", "???"):
        raise DataError(f"dataset={name} needs a folder: add dataset.root=/path/to/data")
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        raise DataError(f"dataset.root={path} does not exist or is not a folder; check the path")
    return path


def scan_classes(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """List the images under ``root/<class>/`` with their class indices and class names."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        found = list_images(root / name)
        paths += found
        labels += [index] * len(found)
    if not paths:
        raise DataError(
            f"dataset.root={root} holds no images in class folders; expected {root}/<class>/<image>.jpg"
        )
    return paths, labels, classes


def labelled_dataset(
    root: Path, cfg: Mapping[str, Any], statuses: list[CacheStatus]
) -> tuple[ImageFileDataset, list[str]]:
    """The images of ``root/<class>/`` (unreadable ones per ``on_bad_image``) via the decode cache."""
    paths, labels, classes = scan_classes(root)
    settings, size = decode_settings(cfg)
    name = str(cfg.get("name", "folder"))
    spec = CacheSpec(
        name,
        paths,
        len(paths),
        FolderDecode(paths, size, settings.resize),
        {"size": size, "resize": settings.resize},
        size=size,
    )
    items, kept, status = open_items(spec, cfg, paths)
    statuses.append(status)
    if len(kept) == 0:
        raise DataError(f"dataset.root={root} holds no readable images; check the files")
    dataset = ImageFileDataset(Subset(items, kept.tolist()), np.asarray(labels)[kept])
    return dataset, classes


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Scan the tree, decode it once into the cache (or check every image) and split it deterministically."""
    root = check_root(cfg.get("root"), str(cfg.get("name", "folder")))
    statuses: list[CacheStatus] = []
    if (root / "train").is_dir():
        splits = _load_presplit(root, cfg, statuses)
    else:
        dataset, classes = labelled_dataset(root, cfg, statuses)
        train, val, test = make_splits(dataset, dataset.labels, cfg)
        splits = DatasetSplits(train, val, test, class_names=classes, task="classification")
    splits.extra["data_cache"] = merge_statuses(statuses)
    return splits


def _load_presplit(root: Path, cfg: Mapping[str, Any], statuses: list[CacheStatus]) -> DatasetSplits:
    """Use ``root/train``, ``root/val`` and ``root/test`` as given (val/test carved if missing)."""
    train_full, classes = labelled_dataset(root / "train", cfg, statuses)
    parts: dict[str, Dataset] = {}
    for split in ("val", "test"):
        if (root / split).is_dir():
            parts[split], names = labelled_dataset(root / split, cfg, statuses)
            if names != classes:
                raise DataError(f"{root / split} has classes {names}, train has {classes}; make them match")
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
