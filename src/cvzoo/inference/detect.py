"""Detections for ``predict.py``: the shared post-processing of a detection graph's output, and its files.

The exported graph (and the eager model) return the raw ``(B, A, 9 + C)`` detection output;
:func:`detections` is the one post-processing step (decode, score threshold, class-wise NMS with
the head config's settings) used by ``predict.py`` for both backends and by any Python client.
``predict.py`` then writes ``predictions.csv`` (one row per detection), ``detections.json``
(COCO results format, boxes in the original image's pixels) and ``boxes/<image>.png`` (the image
with boxes, class names and scores drawn). With the reject option, detections under the
calibrated score threshold are marked ``rejected`` and left out of the JSON and the drawing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from cvzoo.models.heads.detection import decode, select_detections

DETECTION_COLUMNS = ("file", "label", "score", "x1", "y1", "x2", "y2", "rejected")
COCO_RESULTS_NAME = "detections.json"


@dataclass(frozen=True)
class DetectionSettings:
    """The post-processing knobs, read from the head config the model was trained with."""

    score_threshold: float = 0.05
    nms_iou: float = 0.6
    max_detections: int = 100

    @classmethod
    def from_head(cls, head: Mapping[str, Any] | None) -> DetectionSettings:
        """The settings of a head config (defaults for keys it lacks)."""
        head = head or {}
        default = cls()
        return cls(
            float(head.get("score_threshold", default.score_threshold)),
            float(head.get("nms_iou", default.nms_iou)),
            int(head.get("max_detections", default.max_detections)),
        )


def detections(outputs: np.ndarray, settings: DetectionSettings) -> list[dict[str, np.ndarray]]:
    """Boxes (xyxy, model-input pixels), scores and labels per image from the raw graph output."""
    boxes, scores = decode(torch.from_numpy(np.asarray(outputs, dtype=np.float32)))
    found = select_detections(
        boxes, scores, settings.score_threshold, settings.nms_iou, settings.max_detections
    )
    return [{k: v.numpy() for k, v in f.items()} for f in found]


def draw_boxes(source: Path, boxes: np.ndarray, names: Sequence[str], scores: np.ndarray, path: Path) -> None:
    """Save the image with one labelled rectangle per detection (colour per class name)."""
    from cvzoo.inference.writers import palette

    path.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as img:
        canvas = img.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    colours = palette(max(1, len(set(names))))
    order = {name: i for i, name in enumerate(sorted(set(names)))}
    for box, name, score in zip(boxes.tolist(), names, scores.tolist()):
        colour = tuple(int(c) for c in colours[order[name]])
        draw.rectangle(box, outline=colour, width=2)
        draw.text((box[0] + 2, box[1] + 1), f"{name} {score:.2f}", fill=colour)
    canvas.save(path)


class DetectionWriter:
    """Collect the CSV rows and COCO results of a predict run and draw each image's boxes."""

    def __init__(self, out: Path, class_names: Sequence[str], settings: DetectionSettings) -> None:
        self.out = out
        self.class_names = list(class_names)
        self.settings = settings
        self.coco: list[dict[str, Any]] = []
        self.image_ids: dict[str, int] = {}

    def rows(
        self,
        paths: Sequence[Path],
        names: Sequence[str],
        outputs: np.ndarray,
        size: int,
        threshold: float | None,
    ) -> list[dict[str, Any]]:
        """CSV rows of one batch (boxes scaled to each original image), drawing its images."""
        rows = []
        for path, name, found in zip(paths, names, detections(outputs, self.settings)):
            with Image.open(path) as img:
                width, height = img.size
            boxes = found["boxes"] * np.array([width / size, height / size] * 2, dtype=np.float32)
            scores, classes = found["scores"], found["labels"]
            kept = scores >= threshold if threshold is not None else np.ones(len(boxes), bool)
            labels = [self.class_names[int(k)] for k in classes]
            image_id = self.image_ids.setdefault(name, len(self.image_ids))
            for box, label, score, keep in zip(boxes.tolist(), labels, scores.tolist(), kept):
                corners = {k: f"{v:.2f}" for k, v in zip(("x1", "y1", "x2", "y2"), box)}
                rows.append(
                    {
                        "file": name,
                        "label": label,
                        "score": f"{score:.6f}",
                        **corners,
                        "rejected": int(not keep),
                    }
                )
            for box, cls, score in zip(boxes[kept].tolist(), classes[kept].tolist(), scores[kept].tolist()):
                x, y = round(box[0], 2), round(box[1], 2)
                size_wh = [round(box[2] - box[0], 2), round(box[3] - box[1], 2)]
                entry = {"image_id": image_id, "file_name": name, "category_id": int(cls)}
                self.coco.append({**entry, "bbox": [x, y, *size_wh], "score": round(score, 6)})
            kept_names = [n for n, k in zip(labels, kept) if k]
            stem = Path(name).with_suffix(".png").as_posix()
            draw_boxes(path, boxes[kept], kept_names, scores[kept], self.out / "boxes" / stem)
        return rows

    def finish(self) -> Path:
        """Write ``detections.json``: the COCO results list (``category_id`` = class index)."""
        path = self.out / COCO_RESULTS_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.coco))
        return path


def match_detections(
    found: Mapping[str, np.ndarray], target: Mapping[str, Any], iou: float = 0.5
) -> np.ndarray:
    """Per detection (highest score first): does it claim an unclaimed same-class box at ``iou``?"""
    from torchvision.ops import box_iou

    truth = torch.as_tensor(np.asarray(target["boxes"], dtype=np.float32)).reshape(-1, 4)
    labels = np.asarray(target["labels"]).reshape(-1)
    correct = np.zeros(len(found["scores"]), dtype=bool)
    if len(truth) == 0 or len(correct) == 0:
        return correct
    overlaps = box_iou(torch.from_numpy(found["boxes"]), truth).numpy()
    claimed = np.zeros(len(truth), dtype=bool)
    for d in np.argsort(-found["scores"], kind="stable"):
        candidates = np.where((labels == found["labels"][d]) & ~claimed, overlaps[d], 0.0)
        best = int(candidates.argmax())
        if candidates[best] >= iou:
            claimed[best], correct[d] = True, True
    return correct


def detection_confidence(
    predictor: Any, images: np.ndarray, targets: np.ndarray, batch_size: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Score and correctness (IoU >= 0.5 with an unclaimed box of its class) of every detection."""
    from cvzoo.predictors.progress import fit_progress

    settings = DetectionSettings.from_head(predictor.info.head)
    scores, hits = [np.zeros(0, np.float32)], [np.zeros(0, bool)]
    starts = range(0, len(images), batch_size)
    with fit_progress(progress, "calibrating detections on validation", len(starts)) as tick:
        for start in starts:
            found = detections(predictor(images[start : start + batch_size]), settings)
            for image_found, target in zip(found, targets[start : start + batch_size]):
                scores.append(image_found["scores"])
                hits.append(match_detections(image_found, target))
            tick()
    return np.concatenate(scores), np.concatenate(hits)
