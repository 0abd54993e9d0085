"""The task contract: what one task family declares so that training, records and deployment follow.

A task is one module under ``cvzoo.tasks`` holding one :class:`TaskSpec` subclass, registered in
``cvzoo.tasks.TASKS``. The LightningModule, the data module, the record writer, the model card and
the calibration read these declarations instead of branching on the task's name.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import default_collate
from torchmetrics import Metric, MetricCollection

Criterion = Callable[[Any, Any], Tensor]


def finite_or_none(values: Sequence[float]) -> list[float | None]:
    """Per-class values with NaN/inf (classes never seen) as None, the record's missing value."""
    return [float(v) if math.isfinite(float(v)) else None for v in values]


class TaskSpec(ABC):
    """How one task family is trained, measured, recorded and deployed."""

    name: ClassVar[str]
    default_dataset: ClassVar[str]
    """The dataset config a head of this task trains on when the command line names none."""
    monitor: ClassVar[str]
    """The metric datasets of this task monitor by default (also set in each dataset config)."""
    per_class_field: ClassVar[str]
    """Per-class metric stored in the record as ``per_class["test/<field>"]``."""
    metafeature_code: ClassVar[float]
    """The numeric ``task`` meta-feature the boosting predictor reads."""
    output_shape: ClassVar[str]
    """The exported graph's output, as the model card states it."""
    output_postprocess: ClassVar[str]
    """How a client turns the graph's output into answers (model card)."""
    reject_unit: ClassVar[str]
    """What the reject option accepts or rejects: an image, a pixel or a detection."""
    confusion_figure: ClassVar[bool] = False
    """Whether the test confusion matrix is drawn (TensorBoard and the comparison report)."""
    report_metrics: ClassVar[tuple[str, ...]] = ()
    """The task's metric names in the order the report's table shows them."""
    metric_notes: ClassVar[Mapping[str, str]] = {}
    """Two sentences per metric for the report: what it measures, why it matters."""
    per_class_chart: ClassVar[str | None] = None
    """Axis label of the report's per-class bar chart of ``per_class_field`` (None: no chart)."""
    curve_charts: ClassVar[Mapping[str, tuple[str, str, str]]] = {}
    """``record["curves"]`` key -> (x field, y field, title): one report figure per key, runs overlaid."""

    @abstractmethod
    def metrics(self, num_classes: int, ignore_index: int) -> MetricCollection:
        """The validation/test metrics (names without the ``val/`` or ``test/`` prefix)."""

    @abstractmethod
    def per_class_metric(self, num_classes: int, ignore_index: int) -> Metric:
        """The test metric whose per-class values go into the record."""

    def criterion(self, model: nn.Module, ignore_index: int, label_smoothing: float = 0.0) -> Criterion:
        """The training loss ``criterion(outputs, targets) -> scalar`` for ``model``."""
        return self.loss(ignore_index, label_smoothing)

    def loss(self, ignore_index: int, label_smoothing: float = 0.0) -> nn.Module:
        """Cross-entropy over classes (per pixel for dense tasks), skipping ``ignore_index``."""
        return nn.CrossEntropyLoss(ignore_index=ignore_index, label_smoothing=label_smoothing)

    def predictions(self, model: nn.Module, outputs: Any) -> Any:
        """What the metrics are updated with, from the model's outputs (class ids by default)."""
        return outputs.argmax(1)

    def loggable(self, computed: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The scalar metrics to log from ``metrics().compute()`` (all of them by default)."""
        return dict(computed)

    def per_class_values(self, computed: Any, num_classes: int) -> list[float | None]:
        """The record's per-class list from ``per_class_metric().compute()``."""
        return finite_or_none(computed.detach().cpu().tolist())

    def curves(self, metric: Metric, computed: Any) -> dict[str, dict[str, list[float | None]]]:
        """The record's ``curves`` (name -> field -> values) from ``per_class_metric`` and its result."""
        return {}

    def confusion_metric(self, num_classes: int, ignore_index: int) -> Metric | None:
        """The test confusion matrix, or None when the task has none."""
        from torchmetrics.classification import MulticlassConfusionMatrix

        return MulticlassConfusionMatrix(num_classes, ignore_index=ignore_index)

    def collate(self, samples: list[Any]) -> Any:
        """Stack a list of ``(image, target)`` samples into one batch."""
        return default_collate(samples)

    def meta_target(self, image: Tensor, target: Any) -> Tensor:
        """One sample's target as a fixed-shape array of class ids for the dataset meta-features."""
        return torch.as_tensor(target)

    def fit(self, images: Tensor, targets: Any, size: int, crop_fraction: float) -> tuple[Tensor, Any]:
        """Bring a batch of cached squares to ``size`` (centre crop, resize); image-level targets stay."""
        from cvzoo.data.resize import center_fit  # the data package imports the task registry

        images, _ = center_fit(images, None, size, crop_fraction)
        return images, targets

    def augment(self, augmentation: nn.Module, images: Tensor, targets: Any) -> tuple[Tensor, Any]:
        """Augment a training batch; image-level targets are left as they are."""
        images, _ = augmentation(images, None)
        return images, targets
