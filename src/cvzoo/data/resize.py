"""Square images without squashing: resized on the host to the cache size, on the device to the training size.

Host side (decode): ``crop`` resizes the short side to ``size`` and keeps the centre square,
``letterbox`` fits the long side and pads the rest (images with 0, masks with ``ignore_index``),
``squash`` stretches to the square. Masks follow the same geometry with nearest sampling.
Device side: ``center_fit`` turns a batch at the cache size into the training size
deterministically (centre crop, then resize when the crop is larger than the training size).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

RESIZE_MODES = ("crop", "letterbox", "squash")


@dataclass(frozen=True)
class Fit:
    """Where a ``width x height`` source lands in the square: ``x' = x * scale_x + offset_x``."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    size: int


def plan_fit(width: int, height: int, size: int, mode: str) -> Fit:
    """The geometry that brings a ``width x height`` image to ``size x size`` in ``mode``."""
    if mode == "squash":
        return Fit(size / width, size / height, 0.0, 0.0, size)
    if mode == "crop":  # the centre square (whole pixels), scaled to the output
        side = min(width, height)
        scale = size / side
        return Fit(scale, scale, -((width - side) // 2) * scale, -((height - side) // 2) * scale, size)
    if mode == "letterbox":
        scale = size / max(width, height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        return Fit(new_w / width, new_h / height, (size - new_w) // 2, (size - new_h) // 2, size)
    raise ValueError(f"unknown resize mode {mode!r}; one of {RESIZE_MODES}")


def _resize_uint8(chw: Tensor, height: int, width: int) -> Tensor:
    """A uint8 ``(3, H, W)`` tensor resized with antialiased bilinear (torch's fast uint8 path)."""
    if tuple(chw.shape[1:]) == (height, width):
        return chw
    batch = chw[None].contiguous(memory_format=torch.channels_last)
    out = F.interpolate(batch, (height, width), mode="bilinear", antialias=True, align_corners=False)
    return out[0]


def fit_image(img: Image.Image, size: int, mode: str) -> np.ndarray:
    """An RGB PIL image as a uint8 ``(3, size, size)`` array placed by ``plan_fit``."""
    width, height = img.size
    fit = plan_fit(width, height, size, mode)
    with warnings.catch_warnings():  # read-only view: nothing below writes into it
        warnings.simplefilter("ignore", UserWarning)
        chw = torch.from_numpy(np.asarray(img, dtype=np.uint8)).permute(2, 0, 1)
    if mode == "letterbox":
        new_w, new_h = round(width * fit.scale_x), round(height * fit.scale_y)
        out = torch.zeros((3, size, size), dtype=torch.uint8)
        left, top = int(fit.offset_x), int(fit.offset_y)
        out[:, top : top + new_h, left : left + new_w] = _resize_uint8(chw, new_h, new_w)
    elif mode == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        out = _resize_uint8(chw[:, top : top + side, left : left + side], size, size)
    else:
        out = _resize_uint8(chw, size, size)
    return out.contiguous().numpy()


def draft_size(width: int, height: int, size: int, mode: str) -> tuple[int, int]:
    """The smallest ``(width, height)`` a JPEG may be decoded at (DCT scaling) without losing pixels."""
    fit = plan_fit(width, height, size, mode)
    return math.ceil(width * fit.scale_x), math.ceil(height * fit.scale_y)


def fit_mask(mask: np.ndarray, size: int, mode: str, fill: int) -> np.ndarray:
    """An ``(H, W)`` label map brought to ``size x size`` by ``plan_fit`` with nearest sampling."""
    height, width = mask.shape
    fit = plan_fit(width, height, size, mode)
    centres = np.arange(size) + 0.5
    cols = np.floor((centres - fit.offset_x) / fit.scale_x).astype(np.int64)
    rows = np.floor((centres - fit.offset_y) / fit.scale_y).astype(np.int64)
    inside = (rows[:, None] >= 0) & (rows[:, None] < height) & (cols[None, :] >= 0) & (cols[None, :] < width)
    out = mask[np.clip(rows, 0, height - 1)[:, None], np.clip(cols, 0, width - 1)[None, :]]
    return np.where(inside, out, np.asarray(fill, dtype=mask.dtype)) if not inside.all() else out


def eval_crop_side(cached: int, size: int, crop_fraction: float) -> int:
    """Side of the centre crop taken from a ``cached`` square for ``size`` evaluation."""
    return min(cached, max(size, round(cached * crop_fraction)))


def center_fit(
    images: Tensor, masks: Tensor | None, size: int, crop_fraction: float
) -> tuple[Tensor, Tensor | None]:
    """A square batch at the cache size as ``size x size``: centre crop, then resize (masks nearest)."""
    cached = images.shape[-1]
    if images.shape[-2:] == (size, size):
        return images, masks
    side = eval_crop_side(cached, size, crop_fraction)
    start = (cached - side) // 2
    images = images[..., start : start + side, start : start + side]
    if side != size:
        images = F.interpolate(
            images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    if masks is not None:
        index = start + ((torch.arange(size, device=masks.device) + 0.5) * side / size).long()
        masks = masks[:, index[:, None], index[None, :]]
    return images, masks


def plan_center_fit(fit: Fit, size: int, crop_fraction: float) -> Fit:
    """``fit`` (source to the cached square) followed by ``center_fit`` to ``size``: source to model input."""
    side = eval_crop_side(fit.size, size, crop_fraction)
    start = (fit.size - side) // 2
    k = size / side
    return Fit(fit.scale_x * k, fit.scale_y * k, (fit.offset_x - start) * k, (fit.offset_y - start) * k, size)


def unfit_mask(mask: np.ndarray, fit: Fit, width: int, height: int, fill: int) -> np.ndarray:
    """A ``(S, S)`` label map on ``fit``'s square back on its ``width x height`` source (nearest).

    Source pixels the square does not show (cropped away) get ``fill``; letterbox padding is dropped.
    """
    cols = np.floor((np.arange(width) + 0.5) * fit.scale_x + fit.offset_x).astype(np.int64)
    rows = np.floor((np.arange(height) + 0.5) * fit.scale_y + fit.offset_y).astype(np.int64)
    size = mask.shape[0]
    inside = ((rows >= 0) & (rows < size))[:, None] & ((cols >= 0) & (cols < size))[None, :]
    out = mask[np.clip(rows, 0, size - 1)[:, None], np.clip(cols, 0, size - 1)[None, :]]
    return out if inside.all() else np.where(inside, out, np.asarray(fill, dtype=mask.dtype))
