"""An in-memory dataset of uint8 images (and targets), resized once to the training size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset


def resize_uint8(images: Tensor, size: int, mode: str = "bilinear") -> Tensor:
    """Resize a ``(N, C, H, W)`` uint8 batch to ``size x size``, returning uint8."""
    if images.shape[-2:] == (size, size):
        return images.contiguous()
    kwargs = {"antialias": True, "align_corners": False} if mode == "bilinear" else {}
    out = F.interpolate(images.float(), size=(size, size), mode=mode, **kwargs)
    return out.round().clamp(0, 255).to(torch.uint8)


class TensorImageDataset(Dataset):
    """Images ``(N, 3, H, W)`` uint8 with per-image targets, indexable like any dataset."""

    def __init__(self, images: Tensor, targets: Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 (N, 3, H, W) images, got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.targets = targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.targets[index]
