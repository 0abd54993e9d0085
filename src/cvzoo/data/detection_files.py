"""What the detection folder readers share: the checked-annotation policy and the file dataset.

``coco_folder`` and ``yolo_folder`` turn their annotation format into one list of
:class:`Annotated` images (path, size, boxes in pixels, class ids). Every bad annotation goes
through :class:`BadAnnotations`: with ``on_bad_annotation=error`` (default) the first one stops
the run before training with one line naming the file and the value; with ``skip`` it is left
out and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from cvzoo.data.boxes import BoxTarget, box_target
from cvzoo.data.images import decode_image
from cvzoo.data.splits import DatasetSplits, make_splits
from cvzoo.errors import DataError

log = logging.getLogger(__name__)
POLICIES = ("error", "skip")
EDGE_TOLERANCE = 1.0  # pixels a box may overhang the image (rounding in exporters) before it is bad


@dataclass
class Annotated:
    """One image file and its boxes (xyxy pixels of the original image) with class ids."""

    path: Path
    width: int
    height: int
    boxes: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


class BadAnnotations:
    """Raise on the first bad annotation (``error``) or count the skipped ones (``skip``)."""

    def __init__(self, policy: Any) -> None:
        if policy not in POLICIES:
            raise DataError(f"dataset.on_bad_annotation={policy!r} must be one of {', '.join(POLICIES)}")
        self.policy = str(policy)
        self.skipped = 0
        self.first: str | None = None

    def report(self, message: str) -> None:
        """Handle one bad annotation described by ``message`` (names the file and the value)."""
        if self.policy == "error":
            raise DataError(f"{message}; fix it or set dataset.on_bad_annotation=skip")
        self.skipped += 1
        self.first = self.first or message

    def summary(self, name: str) -> None:
        """Log how many bad annotations were skipped."""
        if self.skipped:
            log.warning("%s: skipped %d bad annotations (first: %s)", name, self.skipped, self.first)


def box_problem(box: Sequence[float], width: int, height: int) -> str | None:
    """Why an xyxy pixel box cannot be used (outside the image or no area), or None."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return "has zero area"
    if (
        x1 < -EDGE_TOLERANCE
        or y1 < -EDGE_TOLERANCE
        or x2 > width + EDGE_TOLERANCE
        or y2 > height + EDGE_TOLERANCE
    ):
        return f"lies outside the {width}x{height} image"
    return None


def clip_box(box: Sequence[float], width: int, height: int) -> list[float]:
    """Clip an xyxy box to the image (removes the tolerated overhang)."""
    x1, y1, x2, y2 = box
    return [max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)]


class BoxFileDataset(Dataset):
    """Annotated image files decoded on access at ``size x size``, boxes scaled to match."""

    def __init__(self, items: Sequence[Annotated], size: int) -> None:
        self.items = list(items)
        self.size = size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Tensor, BoxTarget]:
        item = self.items[index]
        image = decode_image(item.path, self.size)
        scale = torch.tensor([self.size / item.width, self.size / item.height] * 2)
        boxes = torch.tensor(item.boxes, dtype=torch.float32).reshape(-1, 4) * scale
        return image, box_target(boxes, torch.tensor(item.labels, dtype=torch.int64))


def detection_splits(items: Sequence[Annotated], names: list[str], cfg: Mapping[str, Any]) -> DatasetSplits:
    """Split annotated images by the config's fractions into a detection ``DatasetSplits``."""
    if not items:
        raise DataError(f"dataset.root={cfg.get('root')} holds no annotated images; check the layout")
    train, val, test = make_splits(BoxFileDataset(items, int(cfg["image_size"])), None, cfg)
    return DatasetSplits(train, val, test, class_names=names, task="detection")
