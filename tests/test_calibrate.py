"""The reject option: ``cvzoo calibrate`` picks a threshold; export and predict.py use it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvzoo.cli import main as cvzoo
from cvzoo.errors import ConfigError
from cvzoo.export.pipeline import ExportOptions, export_model
from cvzoo.inference.calibration import choose, threshold_for_coverage, threshold_for_error
from cvzoo.inference.inputs import load_split
from cvzoo.inference.postprocess import confidence
from cvzoo.inference.predictor import TorchPredictor
from cvzoo.inference.run import PredictOptions, predict
from tests.deploy_helpers import fresh_run, trained_run, write_digit_images

__all__ = ["fresh_run", "trained_run"]  # fixtures from deploy_helpers used below


def test_threshold_for_coverage_keeps_at_least_the_target_share() -> None:
    conf = np.linspace(0.01, 1.0, 100)
    assert threshold_for_coverage(conf, 0.8) == pytest.approx(0.21)
    assert (conf >= threshold_for_coverage(conf, 0.8)).mean() == pytest.approx(0.8)
    assert threshold_for_coverage(conf, 1.0) == pytest.approx(0.01)


def test_threshold_for_error_keeps_the_most_answers_within_the_error_target() -> None:
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    correct = np.array([1, 1, 1, 0, 1, 1, 0, 0], bool)
    assert threshold_for_error(conf, correct, 0.0) == 0.9
    assert threshold_for_error(conf, correct, 0.2) == 0.6  # 1 error in the 6 kept answers
    result = choose(conf, correct, None, 0.2)
    assert result["coverage"] == 0.75 and result["errors_removed"] == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match=r"target_error=0\.001 is not reachable"):
        threshold_for_error(conf, np.zeros(8, bool), 0.001)


def test_targets_are_validated() -> None:
    with pytest.raises(ConfigError, match="not both"):
        choose(np.ones(3), None, 0.8, 0.1)
    with pytest.raises(ConfigError, match=r"target_coverage=1\.5 must be in \(0, 1\]"):
        choose(np.ones(3), None, 1.5, None)
    with pytest.raises(ConfigError, match="target_error needs labels"):
        choose(np.ones(3), None, None, 0.1)


def test_calibrated_threshold_hits_its_target_coverage_on_validation(fresh_run: Path, capsys) -> None:
    ckpt = fresh_run / "checkpoints" / "best.ckpt"
    assert cvzoo(["calibrate", f"ckpt={ckpt}", "target_coverage=0.9"]) == 0
    assert "threshold" in capsys.readouterr().out
    saved = json.loads((fresh_run / "calibration.json").read_text())
    assert (fresh_run / "calibration.png").stat().st_size > 10_000
    predictor = TorchPredictor(ckpt)
    assert predictor.info.threshold == saved["threshold"]
    images, _ = load_split(predictor.meta.cfg["dataset"], "val")
    conf, _ = confidence(predictor(images))
    assert abs((conf >= saved["threshold"]).mean() - 0.9) <= 0.02
    assert len(saved["curve"]) == 11 and saved["curve"][0]["coverage"] == 1.0
    assert 0.0 <= saved["errors_removed"] <= 1.0 and saved["source"] == "validation split of digits"


def test_target_error_bounds_the_error_of_kept_answers(fresh_run: Path, capsys) -> None:
    ckpt = fresh_run / "checkpoints" / "best.ckpt"
    assert cvzoo(["calibrate", f"ckpt={ckpt}", "target_coverage=1.0", "--json"]) == 0
    capsys.readouterr()
    curve = json.loads((fresh_run / "calibration.json").read_text())["curve"]
    half = min(curve, key=lambda r: r["coverage"])  # the most confident half of the answers
    target = round(half["error_kept"] + 0.005, 3)
    assert cvzoo(["calibrate", f"ckpt={ckpt}", f"target_error={target}", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["error_kept"] <= target and result["target_error"] == target
    assert result["coverage"] >= half["coverage"]


def test_threshold_for_unlabelled_production_images(fresh_run: Path, tmp_path: Path, capsys) -> None:
    write_digit_images(tmp_path / "production", count=20)
    ckpt = fresh_run / "checkpoints" / "best.ckpt"
    assert (
        cvzoo(
            [
                "calibrate",
                f"ckpt={ckpt}",
                "target_coverage=0.75",
                f"images={tmp_path / 'production'}",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["coverage"] == 0.75 and result["n"] == 20 and "errors_removed" not in result
    answers = predict(ckpt, tmp_path / "production", tmp_path / "out", opts=PredictOptions(progress=False))
    assert answers.rejected == 5 and answers.threshold == result["threshold"]


def test_export_copies_the_threshold_into_the_card_and_onnx_predict_uses_it(
    fresh_run: Path, tmp_path: Path
) -> None:
    ckpt = fresh_run / "checkpoints" / "best.ckpt"
    assert cvzoo(["calibrate", f"ckpt={ckpt}", "target_coverage=0.5"]) == 0
    card = export_model(ExportOptions(ckpt=str(ckpt), dynamic=False, opencv=False, progress=False))
    assert (
        card["reject"]["threshold"] == json.loads((fresh_run / "calibration.json").read_text())["threshold"]
    )
    write_digit_images(tmp_path / "images")
    by_onnx = predict(
        fresh_run / "export" / "model.onnx",
        tmp_path / "images",
        tmp_path / "o",
        opts=PredictOptions(progress=False),
    )
    by_torch = predict(ckpt, tmp_path / "images", tmp_path / "t", opts=PredictOptions(progress=False))
    assert by_onnx.threshold == pytest.approx(card["reject"]["threshold"])
    assert [r["label"] for r in by_onnx.rows] == [r["label"] for r in by_torch.rows]
    assert (
        cvzoo(["calibrate", f"ckpt={ckpt}", "target_coverage=0.95"]) == 0
    )  # re-calibration updates the card
    updated = json.loads((fresh_run / "export" / "model.json").read_text())
    assert updated["reject"]["target_coverage"] == 0.95


def test_bad_settings_are_one_line_errors(capsys) -> None:
    assert cvzoo(["calibrate", "ckpt=x.ckpt", "target_coverge=0.9"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .startswith("cvzoo calibrate: error: unknown setting 'target_coverge'; did you mean: target_coverage")
    )
    assert cvzoo(["calibrate", "target_coverage=0.9"]) == 2
    assert "missing --ckpt" in capsys.readouterr().err
    assert cvzoo(["calibrate", "ckpt=/nope/best.ckpt"]) == 2
    assert "does not exist" in capsys.readouterr().err
