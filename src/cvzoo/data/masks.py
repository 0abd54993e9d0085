"""Segmentation masks: decoding, resizing and checking label maps, and an in-memory mask dataset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from cvzoo.errors import DataError


class MaskTensorDataset(Dataset):
    """Images ``(N, 3, H, W)`` uint8 and masks ``(N, H, W)`` (any integer type) in memory."""

    def __init__(self, images: Tensor, masks: Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 (N, 3, H, W) images, got {tuple(images.shape)}")
        if masks.shape != (images.shape[0], *images.shape[2:]):
            raise ValueError(f"masks {tuple(masks.shape)} do not match images {tuple(images.shape)}")
        self.images = images
        self.masks = masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.masks[index].long()


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize an ``(H, W)`` label map to ``size x size`` with nearest-neighbour sampling."""
    if mask.shape == (size, size):
        return mask
    h, w = mask.shape
    rows = np.minimum(((np.arange(size) + 0.5) * h / size).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * w / size).astype(np.int64), w - 1)
    return mask[rows[:, None], cols[None, :]]


def colours_to_labels(rgb: np.ndarray, palette: Sequence[Sequence[int]], path: Path) -> np.ndarray:
    """Map an ``(H, W, 3)`` colour mask to class indices by ``palette`` (one RGB per class)."""
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    table = {(int(r) << 16) | (int(g) << 8) | int(b): i for i, (r, g, b) in enumerate(palette)}
    unique, inverse = np.unique(codes, return_inverse=True)
    labels = np.empty(len(unique), dtype=np.int64)
    for j, code in enumerate(unique.tolist()):
        if code not in table:
            colour = (code >> 16, (code >> 8) & 255, code & 255)
            raise DataError(
                f"mask {path} has colour {colour}, which is not in the palette; "
                "add it to the palette (classes.yaml or dataset.palette) or fix the mask"
            )
        labels[j] = table[code]
    return labels[inverse].reshape(codes.shape)


def read_mask(path: Path, palette: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Decode a mask file to an ``(H, W)`` int64 label map (palette PNGs give their indices)."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            array = np.asarray(img)
    except OSError as err:
        raise DataError(f"cannot decode mask {path}; remove it or re-save it as PNG") from err
    if mode in ("RGB", "RGBA"):
        rgb = array[..., :3]
        if palette:
            return colours_to_labels(rgb, palette, path)
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return rgb[..., 0].astype(np.int64)
        raise DataError(
            f"mask {path} is an RGB colour image; give one colour per class in the root's "
            "classes.yaml (palette: [[0,0,0], ...]) or dataset.palette, or save masks as class indices"
        )
    if array.ndim != 2:
        raise DataError(f"mask {path} has mode {mode}; save it as a single-channel PNG of class indices")
    return array.astype(np.int64)


def check_mask_values(values: np.ndarray, num_classes: int, ignore_index: int, path: Path) -> None:
    """Raise DataError naming ``path`` and the value when a label is neither a class nor ignored."""
    bad = [int(v) for v in values if not (0 <= v < num_classes or v == ignore_index)]
    if bad:
        raise DataError(
            f"mask {path} has value {bad[0]}, which is neither a class index (0..{num_classes - 1}) "
            f"nor ignore_index ({ignore_index}); fix the mask or set dataset.class_names / "
            "dataset.ignore_index"
        )
