"""``folder_seg``: your segmentation data, ``root/images/<stem>.<ext>`` + ``root/masks/<stem>.png``.

Masks are single-channel label maps (palette PNGs give their indices), or RGB colour masks when a
palette (one RGB colour per class) is given. Class names and palette come from ``dataset.class_names``
/ ``dataset.palette`` or else from ``root/classes.yaml`` (``names: [...]``, ``palette: [[r,g,b], ...]``);
without names, classes are numbered from the mask values. Every mask is checked up front: same size
as its image, every value a class index or ``ignore_index``. Images are resized to ``image_size``
(bilinear), masks too (nearest).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from cvzoo.data.folder import check_root
from cvzoo.data.images import decode_image, keep_readable, list_images
from cvzoo.data.masks import check_mask_values, read_mask, resize_mask
from cvzoo.data.splits import DatasetSplits, make_splits
from cvzoo.errors import DataError

log = logging.getLogger(__name__)
CLASSES_FILE = "classes.yaml"
MAX_CLASSES = 256


class SegmentationFileDataset(Dataset):
    """Image/mask file pairs decoded on access to a uint8 image and an int64 mask at ``size``."""

    def __init__(
        self, pairs: Sequence[tuple[Path, Path]], size: int, palette: Sequence[Sequence[int]] | None
    ) -> None:
        self.pairs = list(pairs)
        self.size = size
        self.palette = palette

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image_path, mask_path = self.pairs[index]
        mask = resize_mask(read_mask(mask_path, self.palette), self.size)
        return decode_image(image_path, self.size), torch.from_numpy(np.ascontiguousarray(mask))


def _check_palette(palette: Any, names: Sequence[str] | None) -> list[list[int]] | None:
    """Validate a palette (one RGB triple per class) against the class names."""
    if palette is None:
        return None
    colours = [list(map(int, c)) for c in palette]
    if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in colours):
        raise DataError(f"palette {palette} must list one [r, g, b] (0..255) per class")
    if names is not None and len(colours) != len(names):
        raise DataError(
            f"palette has {len(colours)} colours but there are {len(names)} class names; give one per class"
        )
    return colours


def class_settings(cfg: Mapping[str, Any], root: Path) -> tuple[list[str] | None, list[list[int]] | None]:
    """Class names and palette: the command line wins over ``root/classes.yaml``."""
    spec: dict[str, Any] = {}
    path = root / CLASSES_FILE
    if path.is_file():
        try:
            spec = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise DataError(f"{path} is not valid YAML ({str(err).splitlines()[0]}); fix it") from err
        if not isinstance(spec, dict):
            raise DataError(f"{path} must be a mapping with names: [...] and optional palette: [...]")
    names = cfg.get("class_names") or spec.get("names")
    names = [str(n) for n in names] if names else None
    palette = _check_palette(cfg.get("palette") or spec.get("palette"), names)
    if names is None and palette is not None:
        names = [str(i) for i in range(len(palette))]
    return names, palette


def pair_files(root: Path, policy: str) -> list[tuple[Path, Path]]:
    """Pair ``root/images/*`` with ``root/masks/*`` by file stem; every image needs a mask."""
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise DataError(
            f"dataset.root={root} needs images/ and masks/ folders (root/images/a.jpg + root/masks/a.png)"
        )
    images = keep_readable(list_images(images_dir), policy)
    if not images:
        raise DataError(f"{images_dir} holds no images; put the images there (masks in {masks_dir})")
    masks: dict[str, Path] = {}
    for mask in list_images(masks_dir):
        if mask.stem in masks:
            raise DataError(
                f"{masks_dir} has two masks for {mask.stem!r} "
                f"({masks[mask.stem].name}, {mask.name}); keep one"
            )
        masks[mask.stem] = mask
    missing = [p for p in images if p.stem not in masks]
    if missing:
        raise DataError(
            f"image {missing[0]} has no mask {masks_dir / missing[0].stem}.png "
            f"({len(missing)} image(s) without a mask); add the masks or remove the images"
        )
    unused = len(masks) - len({p.stem for p in images})
    if unused > 0:
        log.warning("%d mask(s) in %s have no image and are ignored", unused, masks_dir)
    return [(p, masks[p.stem]) for p in images]


def scan_masks(
    pairs: Sequence[tuple[Path, Path]], names: Sequence[str] | None, palette: Any, ignore_index: int
) -> int:
    """Check every mask (size, values) and return the number of classes."""
    limit = len(names) if names is not None else MAX_CLASSES
    largest = 0
    for image_path, mask_path in pairs:
        mask = read_mask(mask_path, palette)
        with Image.open(image_path) as img:
            width, height = img.size
        if mask.shape != (height, width):
            raise DataError(
                f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {image_path} is "
                f"{width}x{height}; masks must have their image's size"
            )
        values = np.unique(mask)
        check_mask_values(values, limit, ignore_index, mask_path)
        labels = values[values != ignore_index]
        largest = max(largest, int(labels.max()) if len(labels) else 0)
    return limit if names is not None else largest + 1


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Scan the folder (checking every mask up front) and split it deterministically."""
    root = check_root(cfg.get("root"), str(cfg.get("name", "folder_seg")))
    ignore_index = int(cfg.get("ignore_index", 255))
    names, palette = class_settings(cfg, root)
    pairs = pair_files(root, str(cfg.get("on_bad_image", "fail")))
    num_classes = scan_masks(pairs, names, palette, ignore_index)
    if names is None:
        names = [str(i) for i in range(num_classes)]
        log.warning(
            "no class names for %s: using 0..%d (set dataset.class_names or %s)",
            root,
            num_classes - 1,
            CLASSES_FILE,
        )
    dataset = SegmentationFileDataset(pairs, int(cfg["image_size"]), palette)
    train, val, test = make_splits(dataset, None, cfg)
    return DatasetSplits(train, val, test, class_names=names, task="segmentation", ignore_index=ignore_index)
