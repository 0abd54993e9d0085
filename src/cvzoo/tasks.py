"""The task table: what loss and which metrics each task family uses (no if-chains elsewhere)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MulticlassPrecision,
    MulticlassRecall,
)


def classification_metrics(num_classes: int, ignore_index: int) -> MetricCollection:
    """Accuracy plus macro precision, recall and F1."""
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "precision": MulticlassPrecision(num_classes, average="macro"),
            "recall": MulticlassRecall(num_classes, average="macro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        }
    )


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


def per_class_metric(task: str, num_classes: int, ignore_index: int) -> tuple[str, nn.Module]:
    """The per-class metric stored in records: IoU (segmentation) or recall (classification)."""
    if task == "segmentation":
        return "iou", MulticlassJaccardIndex(num_classes, average="none", ignore_index=ignore_index)
    return "recall", MulticlassRecall(num_classes, average="none")


@dataclass(frozen=True)
class TaskSpec:
    """How one task family is trained and measured."""

    name: str
    metrics: Callable[[int, int], MetricCollection]
    # The embedded dataset train.py uses when a head of this task is given without a dataset.
    default_dataset: str = ""

    def loss(self, ignore_index: int, label_smoothing: float = 0.0) -> nn.Module:
        """Cross-entropy over classes (per pixel for segmentation), skipping ``ignore_index``."""
        return nn.CrossEntropyLoss(ignore_index=ignore_index, label_smoothing=label_smoothing)


TASKS: dict[str, TaskSpec] = {
    "classification": TaskSpec("classification", classification_metrics, default_dataset="digits"),
    "segmentation": TaskSpec("segmentation", segmentation_metrics, default_dataset="shapes"),
}
