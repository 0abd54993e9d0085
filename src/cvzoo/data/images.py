"""Image files: listing, checking and decoding them to uint8 tensors (shared by datasets and predict)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from cvzoo.errors import DataError

log = logging.getLogger(__name__)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
BAD_IMAGE_POLICIES = ("fail", "skip")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def is_readable(path: Path) -> bool:
    """True when PIL can identify and verify the file as an image."""
    try:
        with Image.open(path) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    return True


def keep_readable(paths: Iterable[Path], policy: str) -> list[Path]:
    """Drop unreadable images (``skip``, with a warning) or raise naming the first (``fail``)."""
    if policy not in BAD_IMAGE_POLICIES:
        raise DataError(f"dataset.on_bad_image={policy!r} must be one of {', '.join(BAD_IMAGE_POLICIES)}")
    kept = []
    for path in paths:
        if is_readable(path):
            kept.append(path)
        elif policy == "fail":
            raise DataError(f"cannot decode image {path}; remove it or set dataset.on_bad_image=skip")
        else:
            log.warning("skipping unreadable image %s", path)
    return kept


def decode_image(path: Path, size: int | None = None) -> Tensor:
    """Decode ``path`` as RGB and return a uint8 ``(3, H, W)`` tensor, resized when ``size`` is set."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        if size is not None and rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()
