"""Object detection: boxes with classes per image, the head's own loss, COCO mean average precision.

Targets are lists of ``{"boxes": (n, 4) xyxy pixels, "labels": (n,)}`` dicts (one per image,
collated as a list); the model returns the head's ``(B, A, 9 + C)`` detection output and the
head turns it into detections. Metrics come from torchmetrics' ``MeanAveragePrecision`` on the
``faster_coco_eval`` backend: ``mAP`` (IoU .5:.95, monitored), ``mAP50``, ``mAP75`` and
``mAP_small/medium/large`` (a size range without objects is not logged); the record keeps the
per-class AP and the test precision-recall curve at IoU 0.5.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import default_collate
from torchmetrics import Metric, MetricCollection
from torchmetrics.detection import MeanAveragePrecision

from cvzoo.errors import ConfigError
from cvzoo.tasks.base import Criterion, TaskSpec, finite_or_none

BACKEND = "faster_coco_eval"
logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)  # it prints the COCO table per eval
# torchmetrics name -> logged name (after the val/ or test/ prefix).
LOGGED = {
    "map": "mAP",
    "map_50": "mAP50",
    "map_75": "mAP75",
    "map_small": "mAP_small",
    "map_medium": "mAP_medium",
    "map_large": "mAP_large",
    "mar_100": "mAR100",
}


PR_CURVE = "test/pr@0.5"
PR_IOU = 0.5


def mean_average_precision(class_metrics: bool = False) -> MeanAveragePrecision:
    """COCO box mAP over xyxy boxes on the fast backend (with precision tables for per-class runs)."""
    return MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        backend=BACKEND,
        class_metrics=class_metrics,
        extended_summary=class_metrics,
    )


def pr_curve(metric: MeanAveragePrecision, computed: Mapping[str, Any]) -> dict[str, list[float | None]]:
    """COCO precision at the 101 recall points, IoU 0.5, all areas, most detections, mean over classes.

    A class without ground truth (COCO's -1) is left out of the mean; a recall point no class
    defines is None.
    """
    iou = min(range(len(metric.iou_thresholds)), key=lambda i: abs(metric.iou_thresholds[i] - PR_IOU))
    table = computed["precision"][iou, :, :, 0, -1].double()  # (R, K)
    defined = table >= 0
    counts = defined.sum(1)
    means = torch.where(defined, table, 0.0).sum(1) / counts.clamp(min=1)
    precision = [float(m) if int(c) else None for m, c in zip(means.tolist(), counts.tolist())]
    return {"recall": [round(float(r), 6) for r in metric.rec_thresholds], "precision": precision}


def detection_head(model: nn.Module) -> Any:
    """The model's detection head (one that has ``loss`` and ``detections``)."""
    head = getattr(model, "head", None)
    if not (hasattr(head, "loss") and hasattr(head, "detections")):
        raise ConfigError(f"head {type(head).__name__} is not a detection head; pick head=fcos")
    return head


class DetectionTask(TaskSpec):
    """Box targets, the head's loss, NMS-decoded detections, COCO mAP."""

    name = "detection"
    default_dataset = "shapes_det"
    monitor = "val/mAP"
    per_class_field = "ap"
    metafeature_code = 2.0
    output_shape = "(B, A, 9 + C): prior xyxy, box xyxy, quality logit, class logits"
    output_postprocess = (
        "score = sqrt(sigmoid(class logit) * sigmoid(quality logit)); keep score > threshold; "
        "class-wise NMS (cvzoo.models.heads.detection.select_detections)"
    )
    reject_unit = "detection"
    report_metrics = ("mAP", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large", "mAR100")
    metric_notes: ClassVar[Mapping[str, str]] = {
        "mAP": "COCO mean average precision averages, over classes and IoU thresholds 0.50 to 0.95, the "
        "area under each precision-recall curve. It is the standard detection benchmark metric because it "
        "rewards finding every object, ranking detections well and placing boxes tightly.",
        "mAP50": "mAP50 is the mean average precision at IoU 0.5 (the PASCAL VOC metric). It counts a "
        "roughly placed box as a hit, so it measures finding and classifying objects more than localising.",
        "mAP75": "mAP75 is the mean average precision at IoU 0.75. Next to mAP50 it shows how tight the "
        "boxes are: a large gap means objects are found but boxes are loose.",
        "mAP_small": "mAP_small is COCO mAP over objects under 32x32 pixels. Small objects are where "
        "detectors differ most, and what a coarse feature pyramid misses.",
        "mAP_medium": "mAP_medium is COCO mAP over objects between 32x32 and 96x96 pixels. It is logged "
        "only when the split holds such objects.",
        "mAP_large": "mAP_large is COCO mAP over objects above 96x96 pixels. It is logged only when the "
        "split holds such objects.",
        "mAR100": "mAR100 is the mean recall over IoU 0.50 to 0.95 with up to 100 detections per image. "
        "It shows how many objects the detector can find at all, whatever its scores.",
    }
    per_class_chart = "AP"
    curve_charts: ClassVar[Mapping[str, tuple[str, str, str]]] = {
        PR_CURVE: ("recall", "precision", "Precision-recall at IoU 0.5 (test, mean over classes)")
    }

    def metrics(self, num_classes: int, ignore_index: int) -> MetricCollection:
        """COCO mAP and its IoU/size variants."""
        return MetricCollection({"map": mean_average_precision()})

    def per_class_metric(self, num_classes: int, ignore_index: int) -> Metric:
        """COCO mAP with per-class AP."""
        return mean_average_precision(class_metrics=True)

    def criterion(self, model: nn.Module, ignore_index: int, label_smoothing: float = 0.0) -> Criterion:
        """The detection head's own loss (it knows how it assigns targets to locations)."""
        return detection_head(model).loss

    def predictions(self, model: nn.Module, outputs: Tensor) -> list[dict[str, Tensor]]:
        """Boxes, scores and labels per image after the head's NMS."""
        return detection_head(model).detections(outputs.float())

    def loggable(self, computed: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The scalar mAP variants under their cvzoo names; size ranges without objects (-1) dropped."""
        out = {}
        for key, value in computed.items():
            prefix, _, name = key.rpartition("/")
            if name in LOGGED and float(value) >= 0:
                out[f"{prefix}/{LOGGED[name]}" if prefix else LOGGED[name]] = value
        return out

    def per_class_values(self, computed: Mapping[str, Tensor], num_classes: int) -> list[float | None]:
        """AP@[.5:.95] of each class id (None for a class absent from the test split)."""
        values = [float("nan")] * num_classes
        classes = computed["classes"].reshape(-1).tolist()
        aps = computed["map_per_class"].reshape(-1).tolist()
        for cls, ap in zip(classes, aps):
            if 0 <= int(cls) < num_classes and ap >= 0:
                values[int(cls)] = ap
        return finite_or_none(values)

    def curves(self, metric: Metric, computed: Mapping[str, Any]) -> dict[str, dict[str, list[float | None]]]:
        """The test precision-recall curve at IoU 0.5."""
        return {PR_CURVE: pr_curve(metric, computed)}

    def confusion_metric(self, num_classes: int, ignore_index: int) -> Metric | None:
        """Detection records carry no confusion matrix."""
        return None

    def collate(self, samples: list[Any]) -> Any:
        """Stack the images; keep the box targets as a list (their lengths differ)."""
        images = default_collate([image for image, _ in samples])
        return images, [target for _, target in samples]

    def meta_target(self, image: Tensor, target: Any) -> Tensor:
        """The boxes painted as a class-id map (``-1`` outside every box) for the meta-features."""
        canvas = torch.full(image.shape[-2:], -1, dtype=torch.int64)
        for box, label in zip(target["boxes"].round().long().tolist(), target["labels"].tolist()):
            canvas[box[1] : box[3], box[0] : box[2]] = int(label)
        return canvas

    def fit(self, images: Tensor, targets: Any, size: int, crop_fraction: float) -> tuple[Tensor, Any]:
        """Detection datasets load at the training size already; anything else is refused."""
        if images.shape[-2:] != (size, size):
            raise ConfigError(
                f"detection images arrive at {tuple(images.shape[-2:])}, not {size}x{size}; "
                "detection datasets must load at dataset.image_size"
            )
        return images, targets

    def augment(self, augmentation: nn.Module, images: Tensor, targets: Any) -> tuple[Tensor, Any]:
        """Boxes move with the geometric transforms; those that leave the image are dropped."""
        return augmentation.with_boxes(images, targets)
