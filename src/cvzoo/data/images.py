"""Image files: listing, checking and decoding them to uint8 tensors (shared by datasets and predict)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from cvzoo.data.cache_build import UnreadableFile
from cvzoo.data.resize import draft_size, fit_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
BAD_IMAGE_POLICIES = ("fail", "skip")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


# What PIL raises for a file that is not a readable image.
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError)


def is_readable(path: Path) -> bool:
    """True when PIL can identify and verify the file as an image."""
    try:
        with Image.open(path) as img:
            img.verify()
    except DECODE_ERRORS:
        return False
    return True


def decode_image(path: Path, size: int | None = None) -> Tensor:
    """Decode ``path`` as RGB and return a uint8 ``(3, H, W)`` tensor, resized when ``size`` is set."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        if size is not None and rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def read_fitted(path: Path, size: int, mode: str, draft: bool = False) -> np.ndarray:
    """Decode ``path`` as RGB into a uint8 ``(3, size, size)`` square (``resize`` mode ``mode``).

    ``draft`` lets JPEGs decode at a reduced DCT scale that still covers ``size`` (much faster
    for large photos); segmentation leaves it off so the image keeps its mask's exact geometry.
    Raises ``UnreadableFile`` when the file cannot be decoded.
    """
    return fit_image(read_rgb(path, (size, mode) if draft else None), size, mode)


def read_rgb(path: Path, draft: tuple[int, str] | None = None) -> Image.Image:
    """Decode ``path`` as an RGB PIL image (JPEG at a reduced scale covering ``draft=(size, mode)``).

    Raises ``UnreadableFile`` when the file cannot be decoded.
    """
    try:
        img = Image.open(path)
        if draft is not None and img.format == "JPEG":
            img.draft("RGB", draft_size(*img.size, *draft))
        img.load()  # single-frame files close themselves once loaded
    except DECODE_ERRORS as err:
        raise UnreadableFile(str(path)) from err
    if img.mode == "RGB":  # handed over as decoded (``convert`` would copy it)
        return img
    with img:
        return img.convert("RGB")
