"""Semantic segmentation: a class per pixel, per-pixel cross-entropy, mIoU, Dice, pixel accuracy."""

from __future__ import annotations

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
    per_class_chart = "IoU"

    def metrics(self, num_classes: int, ignore_index: int) -> MetricCollection:
        """Mean IoU, macro Dice and pixel accuracy."""
        return segmentation_metrics(num_classes, ignore_index)

    def per_class_metric(self, num_classes: int, ignore_index: int) -> Metric:
        """IoU of each class."""
        return MulticlassJaccardIndex(num_classes, average="none", ignore_index=ignore_index)

    def augment(self, augmentation: nn.Module, images: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """Masks move with the geometric transforms (same parameters, nearest)."""
        return augmentation(images, targets)
