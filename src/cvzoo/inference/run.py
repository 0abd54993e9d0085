"""``predict.py``'s work: batches of image files through a predictor into CSV, masks and overlays."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cvzoo.inference.detect import DETECTION_COLUMNS, DetectionSettings, DetectionWriter
from cvzoo.inference.inputs import ImageBatch, batched, collect_inputs, load_batch
from cvzoo.inference.postprocess import classify, segment
from cvzoo.inference.predictor import OnnxPredictor, TorchPredictor, open_predictor
from cvzoo.inference.writers import (
    CLASSIFICATION_COLUMNS,
    SEGMENTATION_COLUMNS,
    classification_rows,
    common_root,
    palette,
    relative_name,
    save_mask,
    save_overlay,
    write_csv,
)
from cvzoo.predictors.progress import fit_progress


@dataclass
class PredictOptions:
    """How to predict (mirrors ``configs/predict.yaml``)."""

    batch_size: int = 32
    topk: int = 5
    reject: bool = True
    threshold: float | None = None
    overlay_alpha: float = 0.5
    progress: bool = True


@dataclass
class PredictResult:
    """What one predict run produced."""

    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    threshold: float | None = None
    images: int = 0

    @property
    def rejected(self) -> int:
        """How many answers were ``unknown`` (images, or detections under the threshold)."""
        return sum(int(r.get("rejected", 0)) for r in self.rows)


def _segmentation_rows(
    predictor: Any,
    batch: ImageBatch,
    logits: np.ndarray,
    names: list[str],
    out: Path,
    threshold: float | None,
    alpha: float,
) -> list[dict]:
    """Write one mask and one overlay per image on its own pixels; return the CSV rows.

    Pixels outside what the model saw (the crop's cut-off border) are ``ignore_index`` in the mask.
    """
    info = predictor.info
    masks, conf = segment(logits, threshold, info.ignore_index)
    colours = palette(len(info.class_names))
    rows = []
    for path, name, mask, c in zip(batch.paths, names, masks, conf):
        with Image.open(path) as img:
            width, height = img.size
        stem = Path(name).with_suffix(".png").as_posix()
        full = info.geometry.mask_to_source(mask, width, height, info.ignore_index)
        save_mask(full, out / "masks" / stem)
        save_overlay(path, full, colours, alpha, out / "overlays" / stem)
        present = [info.class_names[i] for i in np.unique(mask) if i < len(info.class_names)]
        rows.append(
            {
                "file": name,
                "mask": f"masks/{stem}",
                "overlay": f"overlays/{stem}",
                "mean_confidence": f"{float(c.mean()):.6f}",
                "rejected_share": f"{float((mask == info.ignore_index).mean()):.6f}",
                "classes": " ".join(present),
            }
        )
    return rows


def predict_paths(
    predictor: TorchPredictor | OnnxPredictor, paths: Sequence[Path], out: Path, opts: PredictOptions
) -> PredictResult:
    """Predict every file (unreadable ones are reported and skipped); write the outputs under ``out``."""
    info = predictor.info
    threshold = (opts.threshold if opts.threshold is not None else info.threshold) if opts.reject else None
    result = PredictResult(Path(out), threshold=threshold)
    root = common_root(paths)
    chunks = list(batched(paths, opts.batch_size))
    detector = None
    if info.task == "detection":
        detector = DetectionWriter(result.out, info.class_names, DetectionSettings.from_head(info.head))
    with fit_progress(opts.progress, f"predicting {len(paths)} images", len(chunks)) as tick:
        for chunk in chunks:
            batch = load_batch(chunk, info.geometry)
            for path, reason in batch.failed:
                print(f"warning: skipped unreadable image {path}: {reason}", file=sys.stderr)
            result.failed += batch.failed
            if batch.paths:
                logits = predictor(batch.images)
                names = [relative_name(p, root) for p in batch.paths]
                result.images += len(names)
                if detector is not None:
                    result.rows += detector.rows(batch.paths, names, logits, info.image_size, threshold)
                elif info.task == "classification":
                    result.rows += classification_rows(
                        names, classify(logits, info.class_names, opts.topk, threshold)
                    )
                else:
                    result.rows += _segmentation_rows(
                        predictor, batch, logits, names, result.out, threshold, opts.overlay_alpha
                    )
            tick()
    columns = {
        "classification": CLASSIFICATION_COLUMNS,
        "segmentation": SEGMENTATION_COLUMNS,
        "detection": DETECTION_COLUMNS,
    }[info.task]
    write_csv(result.out / "predictions.csv", columns, result.rows)
    if detector is not None:
        detector.finish()
    if result.failed:
        write_csv(
            result.out / "errors.csv",
            ("file", "error"),
            ({"file": str(p), "error": e} for p, e in result.failed),
        )
    return result


def predict(
    model: str | Path,
    inputs: Any,
    out: str | Path,
    backend: str | None = None,
    device: str = "cpu",
    opts: PredictOptions | None = None,
) -> PredictResult:
    """Open the model with the chosen backend and predict every image of ``inputs``."""
    predictor = open_predictor(model, backend, device)
    return predict_paths(predictor, collect_inputs(inputs), Path(out), opts or PredictOptions())
