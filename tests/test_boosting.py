"""Boosting: matrix completion with side features, and the record-level model behind cvzoo boost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvzoo.cli import main
from cvzoo.errors import DataError
from cvzoo.predictors.boost_records import cross_validate, fit_record_model, record_table
from cvzoo.predictors.boosting import complete_boost
from cvzoo.predictors.completion import complete
from cvzoo.results import write_record
from cvzoo.results.store import find_records

BACKBONES = {
    "resnet18": ("resnet", 11e6, 0.0),
    "resnet50": ("resnet", 25e6, 0.04),
    "convnext_tiny": ("convnext", 28e6, 0.06),
    "mobilenet": ("mobilenet", 5e6, -0.03),
}
HEADS = {"linear": 0.0, "mlp": 0.02, "fpn": -0.01}


def feature_matrix(seed: int = 0):
    """A 30 x 8 matrix driven by row and column features, half observed; the most extreme row
    (listed first) is never observed."""
    rng = np.random.default_rng(seed)
    rows, cols = rng.normal(size=(30, 3)), rng.normal(size=(8, 2))
    rows = rows[np.argsort(-np.abs(rows[:, 0] + 0.5 * rows[:, 1]))]
    truth = rows[:, :1] + 0.5 * rows[:, 1:2] + (cols @ [0.7, -0.3])[None, :]
    observed = np.where(rng.random(truth.shape) < 0.5, np.nan, truth)
    observed[0] = np.nan
    return truth, observed, rows, cols


def test_complete_boost_keeps_observed_cells_and_predicts_a_cold_row():
    truth, observed, rows, cols = feature_matrix()
    result = complete_boost(observed, rows, cols, seed=0)
    known = np.isfinite(observed)
    assert result.method == "boost" and np.isfinite(result.cv_rmse)
    assert np.array_equal(result.mean[known], observed[known]) and np.all(result.std[known] == 0)
    assert np.all(np.isfinite(result.mean)) and np.all(result.std[~known] > 0)
    cold_error = np.sqrt(np.mean((result.mean[0] - truth[0]) ** 2))
    column_mean_error = np.sqrt(np.mean((np.nanmean(observed, axis=0) - truth[0]) ** 2))
    assert cold_error < 0.5 * column_mean_error


def test_complete_dispatches_to_boost():
    _, observed, rows, cols = feature_matrix(1)
    result = complete(observed, method="boost", row_features=rows, col_features=cols)
    assert result.method == "boost" and result.row_embeddings.shape[0] == observed.shape[0]


def write_records(root: Path, n_datasets: int, seed: int = 0) -> None:
    """Synthetic ok records whose accuracy depends on dataset difficulty, backbone and head."""
    rng = np.random.default_rng(seed)
    for d in range(n_datasets):
        hard = rng.uniform(0, 1)
        meta = {"num_images": 1000.0 + d, "colourfulness": 100 * hard, "task": 0.0}
        for name, (family, params, effect) in BACKBONES.items():
            for head, head_effect in HEADS.items():
                acc = 0.9 - 0.3 * hard + effect + head_effect + rng.normal(0, 0.005)
                write_record(root / f"d{d}_{name}_{head}", {
                    "status": "ok", "dataset": f"ds{d}", "backbone": name, "head": head,
                    "fraction": 1.0, "epochs": 5, "params": params, "flops_per_image": 2 * params,
                    "pretrained_loaded": False, "dataset_meta": meta,
                    "config": {"backbone": {"name": name, "family": family}},
                    "best_val": {"val/acc": acc}})  # fmt: skip


def test_record_model_beats_the_mean_in_both_cross_validations(tmp_path):
    write_records(tmp_path, 6)
    table = record_table(find_records([tmp_path], status="ok"), "val/acc")
    assert {"meta_colourfulness", "params", "family", "head_name", "fraction"} <= set(table)
    cv = cross_validate(table, seed=0)
    for scores in (cv["random"], cv["leave_one_dataset_out"]):
        assert scores["rmse"] < 0.7 * scores["baseline_rmse"]
    assert cv["leave_one_dataset_out"]["folds"] == 6


def test_a_new_dataset_is_predicted_from_its_meta_features(tmp_path):
    write_records(tmp_path / "seen", 6)
    write_records(tmp_path / "new", 7)  # same generator: ds6 is new, ds0-ds5 are repeats
    seen = record_table(find_records([tmp_path / "seen"], status="ok"), "val/acc")
    new = record_table(find_records([tmp_path / "new"], where={"dataset": "ds6"}), "val/acc")
    pred = fit_record_model(seen).predict(new)
    error = np.abs(pred - new["y"].to_numpy()).mean()
    assert error < 0.5 * np.abs(seen["y"].mean() - new["y"]).mean()


def test_cli_writes_json_and_importance_plot(tmp_path, capsys):
    write_records(tmp_path, 3)
    argv = ["boost", "--from-results", str(tmp_path), "--target", "val/acc", "--quiet", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_records"] == 36 and summary["n_datasets"] == 3
    assert set(summary["cv"]) == {"random", "leave_one_dataset_out"}
    assert (tmp_path / "boost_importance.png").stat().st_size > 0
    assert json.loads((tmp_path / "boost.json").read_text())["importance"]


def test_one_dataset_has_no_leave_one_dataset_out(tmp_path, capsys):
    write_records(tmp_path, 1)
    assert main(["boost", "--from-results", str(tmp_path), "--quiet"]) == 0
    assert "leave_one_dataset_out: needs 2+ datasets" in capsys.readouterr().out


def test_too_few_records_is_a_one_line_error(tmp_path, capsys):
    write_records(tmp_path, 1)
    assert main(["boost", "--from-results", str(tmp_path), "--target", "val/nothing"]) == 2
    err = capsys.readouterr().err.strip()
    assert "need at least 4 ok records with 'val/nothing'" in err and "\n" not in err
    with pytest.raises(DataError):
        record_table([], "val/acc")
