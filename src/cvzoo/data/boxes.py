"""Box targets: the ``{"boxes", "labels"}`` dict every detection dataset returns, and its dataset."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

BoxTarget = dict[str, Tensor]
"""``boxes``: float ``(n, 4)`` xyxy in pixels of the stored image; ``labels``: int64 ``(n,)``."""


def box_target(boxes: Tensor, labels: Tensor) -> BoxTarget:
    """A target dict with the canonical dtypes and shapes (``(0, 4)`` when there is no object)."""
    return {
        "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.as_tensor(labels, dtype=torch.int64).reshape(-1),
    }


def boxes_from_instances(instances: Tensor, masks: Tensor, min_pixels: int) -> tuple[Tensor, Tensor]:
    """Boxes of the visible pixels of every instance: ``(N, K, 4)`` xyxy and labels ``(N, K)``.

    ``instances`` holds instance ids 1..K per pixel (0 = background), ``masks`` the class
    (1 = first class); instances with fewer than ``min_pixels`` visible pixels get label -1.
    """
    n, height, width = instances.shape
    count = int(instances.max()) if instances.numel() else 0
    boxes = torch.zeros(n, count, 4)
    labels = torch.full((n, count), -1, dtype=torch.int64)
    for k in range(1, count + 1):
        inside = instances == k
        cols, rows = inside.any(1), inside.any(2)
        x1 = cols.float().argmax(1)
        x2 = width - cols.flip(1).float().argmax(1)
        y1 = rows.float().argmax(1)
        y2 = height - rows.flip(1).float().argmax(1)
        boxes[:, k - 1] = torch.stack([x1, y1, x2, y2], 1).float()
        visible = inside.sum((1, 2)) >= min_pixels
        kind = (masks.long() * inside).amax((1, 2)) - 1
        labels[:, k - 1] = torch.where(visible, kind, torch.full_like(kind, -1))
    return boxes, labels


class BoxTensorDataset(Dataset):
    """Uint8 images ``(N, C, H, W)`` with padded boxes ``(N, K, 4)`` and labels ``(N, K)`` (-1 = none)."""

    def __init__(self, images: Tensor, boxes: Tensor, labels: Tensor) -> None:
        self.images = images
        self.boxes = boxes
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, BoxTarget]:
        keep = self.labels[index] >= 0
        return self.images[index], box_target(self.boxes[index][keep], self.labels[index][keep])
