"""Semantic segmentation: a class per pixel, per-pixel cross-entropy, mIoU, Dice, pixel accuracy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex

from cvzoo.tasks.base import TaskSpec


def segmentation_metrics(num_classes: int, ignore_index: int) -> MetricCollection:
    """Mean IoU, macro Dice (= per-pixel macro F1) and pixel accuracy, ignoring ``ignore_index``."""
    common = {"num_classes": num_classes, "ignore_index": ignore_index}
    return MetricCollection(
        {
            "mIoU": MulticlassJaccardIndex(average="macro", **common),
            "dice": MulticlassF1Score(average="macro", **common),
            "pixel_acc": MulticlassAccuracy(average="micro", **common),
        }
    )


class SegmentationTask(TaskSpec):
    """Targets are masks ``(B, H, W)``; the model returns logits ``(B, C, H, W)``."""

    name = "segmentation"
    default_dataset = "shapes"
    monitor = "val/mIoU"
    per_class_field = "iou"
    metafeature_code = 1.0
    output_shape = "(B, C, H, W)"
    output_postprocess = "softmax over C; argmax = class per pixel"
    reject_unit = "pixel"
    report_metrics = ("mIoU", "dice", "pixel_acc")
    metric_notes: ClassVar[Mapping[str, str]] = {
        "mIoU": "Mean intersection over union averages over classes the overlap of predicted and true "
        "regions divided by their union. It is the standard segmentation benchmark metric because it "
        "punishes missed and spurious pixels and weighs small classes as much as large ones.",
        "dice": "Dice (per-pixel F1) averages over classes twice the overlap divided by the sizes of the "
        "predicted and true regions. It is the usual metric in medical and thin-structure segmentation "
        "and is gentler than IoU on small errors (Dice = 2 IoU / (1 + IoU) per class).",
        "pixel_acc": "Pixel accuracy is the share of labelled pixels (ignore_index excluded) with the right "
        "class. It is an intuitive sanity check, but background and other large classes dominate it, so "
        "read it next to mIoU.",
    }
    per_class_chart = "IoU"

    def metrics(self, num_classes: int, ignore_index: int) -> MetricCollection:
        """Mean IoU, macro Dice and pixel accuracy."""
        return segmentation_metrics(num_classes, ignore_index)

    def per_class_metric(self, num_classes: int, ignore_index: int) -> Metric:
        """IoU of each class."""
        return MulticlassJaccardIndex(num_classes, average="none", ignore_index=ignore_index)

    def fit(self, images: Tensor, targets: Tensor, size: int, crop_fraction: float) -> tuple[Tensor, Tensor]:
        """Cached squares to ``size``: the masks take the same crop, nearest-resized."""
        from cvzoo.data.resize import center_fit  # the data package imports the task registry

        return center_fit(images, targets, size, crop_fraction)

    def augment(self, augmentation: nn.Module, images: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """Masks move with the geometric transforms (same parameters, nearest)."""
        return augmentation(images, targets)
