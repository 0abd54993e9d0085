"""``folder_seg``: your segmentation data, ``root/images/<stem>.<ext>`` + ``root/masks/<stem>.png``.

Masks are single-channel label maps (palette PNGs give their indices), or RGB colour masks when a
palette (one RGB colour per class) is given. Class names and palette come from ``dataset.class_names``
/ ``dataset.palette`` or else from ``root/classes.yaml`` (``names: [...]``, ``palette: [[r,g,b], ...]``);
without names, classes are numbered from the mask values. Every mask is checked up front: same size
as its image, every value a class index or ``ignore_index`` (once, while the decode cache is
built). Images are brought to the cache square as ``dataset.resize`` says (bilinear), masks with
the same geometry (nearest, letterbox padding = ``ignore_index``).
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
from torch.utils.data import Dataset, Subset

from cvzoo.data.cache import CacheSpec, Decoded
from cvzoo.data.files import decode_settings, merge_statuses, open_items
from cvzoo.data.folder import check_root
from cvzoo.data.images import list_images, read_rgb
from cvzoo.data.masks import check_mask_values, read_mask
from cvzoo.data.resize import fit_image, fit_mask
from cvzoo.data.splits import DatasetSplits, make_splits
from cvzoo.errors import DataError

log = logging.getLogger(__name__)
CLASSES_FILE = "classes.yaml"
MAX_CLASSES = 256


class SegmentationDecode:
    """Decode function of image/mask pairs: both as ``size`` squares, the mask checked on the way."""

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        size: int,
        mode: str,
        palette: Sequence[Sequence[int]] | None,
        num_classes: int,
        ignore_index: int,
    ) -> None:
        self.pairs = list(pairs)
        self.size, self.mode = size, mode
        self.palette = palette
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.dtype = np.uint8 if 0 <= ignore_index <= 255 else np.int32

    def __call__(self, index: int) -> Decoded:
        image_path, mask_path = self.pairs[index]
        image = read_rgb(image_path)
        mask = checked_mask(
            image_path, mask_path, image.size, self.palette, self.num_classes, self.ignore_index
        )
        return {
            "image": fit_image(image, self.size, self.mode),
            "mask": fit_mask(mask, self.size, self.mode, self.ignore_index).astype(self.dtype),
        }


class SegmentationFileDataset(Dataset):
    """Image/mask pairs read from the decode cache (or decoded on access): uint8 image, int64 mask."""

    def __init__(self, items: Dataset) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        item = self.items[index]
        return torch.from_numpy(item["image"]), torch.from_numpy(item["mask"]).long()


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


def pair_files(root: Path) -> list[tuple[Path, Path]]:
    """Pair ``root/images/*`` with ``root/masks/*`` by file stem; every image needs a mask."""
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise DataError(
            f"dataset.root={root} needs images/ and masks/ folders (root/images/a.jpg + root/masks/a.png)"
        )
    images = list_images(images_dir)
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


def checked_mask(
    image_path: Path,
    mask_path: Path,
    image_size: tuple[int, int],
    palette: Any,
    num_classes: int,
    ignore_index: int,
) -> np.ndarray:
    """Read a mask and check it: its image's size, every value a class index or ``ignore_index``."""
    mask = read_mask(mask_path, palette)
    width, height = image_size
    if mask.shape != (height, width):
        raise DataError(
            f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {image_path} is "
            f"{width}x{height}; masks must have their image's size"
        )
    check_mask_values(np.unique(mask), num_classes, ignore_index, mask_path)
    return mask


def scan_masks(
    pairs: Sequence[tuple[Path, Path]], palette: Any, num_classes: int, ignore_index: int
) -> list[int]:
    """Check every mask (size, values) without decoding the images; return the values seen."""
    seen: set[int] = set()
    for image_path, mask_path in pairs:
        with Image.open(image_path) as img:
            size = img.size
        seen.update(
            np.unique(checked_mask(image_path, mask_path, size, palette, num_classes, ignore_index)).tolist()
        )
    return sorted(seen)


def count_classes(values: Sequence[int], ignore_index: int) -> int:
    """Classes implied by the mask values seen (the largest label + 1)."""
    labels = [v for v in values if v != ignore_index]
    return max(labels, default=0) + 1


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Scan the folder, decode it once into the cache (checking every mask) and split it deterministically."""
    root = check_root(cfg.get("root"), str(cfg.get("name", "folder_seg")))
    ignore_index = int(cfg.get("ignore_index", 255))
    names, palette = class_settings(cfg, root)
    pairs = pair_files(root)
    settings, size = decode_settings(cfg)
    limit = len(names) if names is not None else MAX_CLASSES
    decode = SegmentationDecode(pairs, size, settings.resize, palette, limit, ignore_index)
    key = {
        "size": size,
        "resize": settings.resize,
        "palette": palette,
        "classes": limit,
        "ignore": ignore_index,
    }
    sources = [path for pair in pairs for path in pair]
    spec = CacheSpec(str(cfg.get("name", "folder_seg")), sources, len(pairs), decode, key, size=size)
    items, kept, status = open_items(spec, cfg, [image for image, _ in pairs])
    if settings.cache:
        values = status.values.get("mask", [])
    else:
        values = scan_masks([pairs[i] for i in kept], palette, limit, ignore_index)
    num_classes = limit if names is not None else count_classes(values, ignore_index)
    if names is None:
        names = [str(i) for i in range(num_classes)]
        log.warning(
            "no class names for %s: using 0..%d (set dataset.class_names or %s)",
            root,
            num_classes - 1,
            CLASSES_FILE,
        )
    dataset = SegmentationFileDataset(Subset(items, kept.tolist()))
    train, val, test = make_splits(dataset, None, cfg)
    splits = DatasetSplits(
        train, val, test, class_names=names, task="segmentation", ignore_index=ignore_index
    )
    splits.extra["data_cache"] = merge_statuses([status])
    return splits
