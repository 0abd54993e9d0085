"""Detection deployment: export to ONNX, predict with both backends, COCO results, CSV and drawn boxes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvzoo.data import build_splits
from cvzoo.export.pipeline import ExportOptions, export_model
from cvzoo.inference.detect import DETECTION_COLUMNS
from cvzoo.inference.run import PredictOptions, predict
from tests.deploy_helpers import compose_train

pytestmark = pytest.mark.slow
DETECTION_RUN = ("backbone=test_resnet", "head=fcos", "dataset=shapes_det", "dataset.num_images=200")
FAST = ("trainer.max_epochs=2", "trainer.enable_progress_bar=false", "logger=none", "dataset.batch_size=16")


@pytest.fixture(scope="module")
def exported_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained shapes_det detector with ``export/model.onnx`` and its card."""
    from cvzoo.training import run_training

    root = tmp_path_factory.mktemp("det")
    run_dir = root / "run"
    run_training(compose_train(root, *DETECTION_RUN, *FAST, output_dir=run_dir))
    export_model(ExportOptions(ckpt=str(run_dir / "checkpoints" / "best.ckpt"), progress=False))
    return run_dir


def write_validation_images(root: Path, folder: Path) -> list[Path]:
    """The shapes_det validation images as PNG files."""
    cfg = compose_train(root, *DETECTION_RUN)
    splits = build_splits(cfg.dataset)
    folder.mkdir(parents=True)
    paths = []
    for i in range(8):
        image, _ = splits.val[i]
        paths.append(folder / f"val_{i}.png")
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(paths[-1])
    return paths


def test_export_writes_a_detection_card_with_parity(exported_detector: Path) -> None:
    card = json.loads((exported_detector / "export" / "model.json").read_text())
    assert card["task"] == "detection"
    assert card["output"]["shape"].startswith("(B, A, 9 + C)")
    assert card["parity"]["ok"] is True


def test_torch_and_onnx_predict_give_the_same_boxes(exported_detector: Path, tmp_path: Path) -> None:
    write_validation_images(tmp_path, tmp_path / "images")
    opts = PredictOptions(progress=False, reject=False)
    ckpt = exported_detector / "checkpoints" / "best.ckpt"
    by_torch = predict(ckpt, tmp_path / "images", tmp_path / "torch", opts=opts)
    by_onnx = predict(
        exported_detector / "export" / "model.onnx", tmp_path / "images", tmp_path / "onnx", opts=opts
    )
    assert by_torch.images == 8 and len(by_torch.rows) > 0
    assert [(r["file"], r["label"]) for r in by_onnx.rows] == [(r["file"], r["label"]) for r in by_torch.rows]
    for key in ("score", "x1", "y1", "x2", "y2"):
        values = [float(r[key]) for r in by_onnx.rows]
        np.testing.assert_allclose(values, [float(r[key]) for r in by_torch.rows], atol=0.02)
    with (tmp_path / "torch" / "predictions.csv").open() as handle:
        assert tuple(next(csv.reader(handle))) == DETECTION_COLUMNS
    results = json.loads((tmp_path / "torch" / "detections.json").read_text())
    assert len(results) == len(by_torch.rows)
    first = results[0]
    assert set(first) >= {"image_id", "category_id", "bbox", "score"} and len(first["bbox"]) == 4
    assert (tmp_path / "torch" / "boxes" / "val_0.png").is_file()


def test_reject_threshold_marks_low_scoring_detections(exported_detector: Path, tmp_path: Path) -> None:
    write_validation_images(tmp_path, tmp_path / "images")
    ckpt = exported_detector / "checkpoints" / "best.ckpt"
    result = predict(
        ckpt, tmp_path / "images", tmp_path / "out", opts=PredictOptions(progress=False, threshold=0.3)
    )
    scores = np.array([float(r["score"]) for r in result.rows])
    rejected = np.array([int(r["rejected"]) for r in result.rows], dtype=bool)
    assert (rejected == (scores < 0.3)).all()
    kept = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert len(kept) == int((~rejected).sum())


def test_calibration_picks_a_per_detection_score_threshold(exported_detector: Path, tmp_path: Path) -> None:
    from cvzoo.inference.calibrate import run_calibration

    ckpt = exported_detector / "checkpoints" / "best.ckpt"
    result = run_calibration(ckpt, target_coverage=0.5, progress=False, out=tmp_path)
    assert result["unit"] == "detection" and 0.0 < result["threshold"] < 1.0
    assert result["coverage"] >= 0.5
