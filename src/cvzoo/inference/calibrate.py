"""``cvzoo calibrate``: measure the reject curve of a checkpoint and store its threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cvzoo.errors import ConfigError, DataError
from cvzoo.export.card import read_card, write_json
from cvzoo.inference.calibration import CALIBRATION_NAME, PLOT_NAME, choose, plot_reject_curve
from cvzoo.inference.detect import detection_confidence
from cvzoo.inference.inputs import batched, collect_inputs, load_batch, load_split
from cvzoo.inference.postprocess import confidence
from cvzoo.inference.predictor import TorchPredictor
from cvzoo.predictors.progress import fit_progress
from cvzoo.tasks import get_task


def split_confidence(
    predictor: TorchPredictor, images: np.ndarray, targets: np.ndarray, batch_size: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Confidence and correctness per image (per labelled pixel for segmentation)."""
    confs, hits = [], []
    starts = range(0, len(images), batch_size)
    with fit_progress(progress, "calibrating on validation", len(starts)) as tick:
        for start in starts:
            conf, pred = confidence(predictor(images[start : start + batch_size]))
            target = targets[start : start + batch_size]
            valid = target != predictor.info.ignore_index
            confs.append(conf[valid])
            hits.append((pred == target)[valid])
            tick()
    return np.concatenate(confs).ravel(), np.concatenate(hits).ravel()


# Tasks whose answers are not one per image or pixel: how to score and check them on a split.
SPLIT_CONFIDENCE = {"detection": detection_confidence}


def image_confidence(predictor: TorchPredictor, spec: str, batch_size: int, progress: bool) -> np.ndarray:
    """Confidence on unlabelled images (per pixel for segmentation); unreadable files are skipped."""
    paths = collect_inputs(spec)
    chunks = list(batched(paths, batch_size))
    confs = []
    with fit_progress(progress, "calibrating on images", len(chunks)) as tick:
        for chunk in chunks:
            batch = load_batch(chunk, predictor.info.geometry)
            if len(batch.paths):
                confs.append(confidence(predictor(batch.images))[0].ravel())
            tick()
    if not confs:
        raise DataError(f"images={spec}: no readable image; check the folder")
    return np.concatenate(confs)


def _store_in_card(run_dir: Path, result: dict[str, Any]) -> Path | None:
    """Copy the threshold into ``<run>/export/model.json`` when the run was already exported."""
    card_path = run_dir / "export" / "model.json"
    card = read_card(card_path)
    if card is None:
        return None
    card["reject"] = {k: v for k, v in result.items() if k != "curve"}
    return write_json(card_path, card)


def run_calibration(
    ckpt: str | Path,
    target_coverage: float | None = None,
    target_error: float | None = None,
    images: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Choose the threshold; write ``calibration.json`` and ``.png`` in the run dir; update the card."""
    predictor = TorchPredictor(ckpt)
    meta = predictor.meta
    if images is not None and meta.task in SPLIT_CONFIDENCE:
        raise ConfigError(f"images={images}: {meta.task} is calibrated on its validation split; drop images=")
    if images is not None:
        conf, correct = image_confidence(predictor, str(images), batch_size, progress), None
        source = f"images:{images}"
    else:
        split_images, targets = load_split(meta.cfg["dataset"], "val")
        measure = SPLIT_CONFIDENCE.get(meta.task, split_confidence)
        conf, correct = measure(predictor, split_images, targets, batch_size, progress)
        source = f"validation split of {meta.cfg['dataset'].get('name')}"
    result = {
        **choose(conf, correct, target_coverage, target_error),
        "source": source,
        "unit": get_task(meta.task).reject_unit,
        "checkpoint": meta.checkpoint,
    }
    out_dir = Path(out) if out is not None else meta.run_dir
    write_json(out_dir / CALIBRATION_NAME, result)
    title = f"Reject option: {result['coverage']:.0%} kept at threshold {result['threshold']:.3f} ({source})"
    plot_reject_curve(result, out_dir / PLOT_NAME, title)
    card = _store_in_card(meta.run_dir, result)
    result["files"] = [str(out_dir / CALIBRATION_NAME), str(out_dir / PLOT_NAME)] + (
        [str(card)] if card else []
    )
    return result
