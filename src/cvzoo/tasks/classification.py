"""Classification: one label per image, cross-entropy, accuracy and macro precision/recall/F1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from cvzoo.tasks.base import TaskSpec


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


class ClassificationTask(TaskSpec):
    """Targets are class ids ``(B,)``; the model returns logits ``(B, C)``."""

    name = "classification"
    default_dataset = "digits"
    monitor = "val/acc"
    per_class_field = "recall"
    metafeature_code = 0.0
    output_shape = "(B, C)"
    output_postprocess = "softmax over C; argmax = class"
    reject_unit = "image"
    report_metrics = ("acc", "precision", "recall", "f1")
    metric_notes: ClassVar[Mapping[str, str]] = {
        "acc": "Accuracy is the share of test images whose predicted class is the true one. It is the "
        "headline number most benchmarks quote, but on imbalanced data it mostly reflects the large classes.",
        "precision": "Macro precision averages over classes the share of predictions of a class that "
        "are right. It is reported because a model that over-predicts some classes (false alarms) can "
        "still have high accuracy.",
        "recall": "Macro recall averages over classes the share of each class's images that are found. "
        "It weighs every class equally, so a model that ignores rare classes scores low even when its "
        "accuracy is high.",
        "f1": "Macro F1 averages over classes the harmonic mean of precision and recall. It is the one "
        "balanced number to rank models by when classes are imbalanced or errors of both kinds matter.",
    }
    confusion_figure = True

    def metrics(self, num_classes: int, ignore_index: int) -> MetricCollection:
        """Accuracy plus macro precision, recall and F1."""
        return classification_metrics(num_classes, ignore_index)

    def per_class_metric(self, num_classes: int, ignore_index: int) -> Metric:
        """Recall of each class."""
        return MulticlassRecall(num_classes, average="none")
