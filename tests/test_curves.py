"""Learning curves: planted parameters come back, targets are answered, the CLI speaks JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvzoo.cli import main
from cvzoo.errors import DataError
from cvzoo.predictors.curves import fit_curve, size_for_target

DATA = Path(__file__).parent / "data" / "curves"
SIZES = np.geomspace(50, 5000, 8)
JSON_KEYS = ["model", "params", "predictions", "target", "size_for_target", "reachable"]


def power_points(a=0.95, b=0.8, c=0.4, sizes=SIZES):
    """Noise-free points of ``a - b * x^-c``."""
    return sizes, a - b * sizes ** (-c)


def write_points(path: Path, sizes, metrics) -> Path:
    """A points CSV with an extra column the command must ignore."""
    pd.DataFrame({"size": sizes, "metric": metrics, "seed": 0}).to_csv(path, index=False)
    return path


def test_power_law_parameters_are_recovered():
    sizes, metrics = power_points()
    curve = fit_curve(sizes, metrics)
    params = curve.params if curve.model == "power" else None
    assert curve.model == "power"
    assert params["a"] == pytest.approx(0.95, abs=0.005)
    assert params["b"] == pytest.approx(0.8, rel=0.05)
    assert params["c"] == pytest.approx(0.4, rel=0.05)


def test_logistic_parameters_are_recovered():
    a, c, x0, d = 0.2, 0.9, 300.0, 1.3
    metrics = c + (a - c) / (1 + (SIZES / x0) ** d)
    curve = fit_curve(SIZES, metrics)
    assert curve.model == "logistic"
    params = curve.params
    assert params["a"] == pytest.approx(a, abs=0.02)
    assert params["c"] == pytest.approx(c, abs=0.01)
    assert params["x0"] == pytest.approx(x0, rel=0.05)
    assert params["d"] == pytest.approx(d, rel=0.05)


def test_intervals_widen_with_extrapolation_and_cover_the_truth():
    rng = np.random.default_rng(0)
    sizes, clean = power_points()
    curve = fit_curve(sizes, clean + rng.normal(0, 0.003, sizes.size))
    far = np.array([1e4, 1e5, 1e6])
    low, high = curve.interval(far)
    assert np.all(np.diff(high - low) > 0)
    truth = power_points(sizes=far)[1]
    assert np.all((low <= truth) & (truth <= high))


def test_target_size_lies_inside_its_interval():
    curve = fit_curve(*power_points())
    answer = size_for_target(curve, 0.93)
    exact = (0.8 / (0.95 - 0.93)) ** (1 / 0.4)
    assert answer.reachable
    assert answer.size == pytest.approx(exact, rel=0.15)
    assert answer.low <= answer.size <= (answer.high or np.inf)


def test_unreachable_target_says_not_reachable_with_the_asymptote(tmp_path, capsys):
    points = write_points(tmp_path / "points.csv", *power_points())
    assert main(["curve", "--input", str(points), "--target", "0.99"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(r"target 0.99: not reachable: asymptote 0\.9[45]\d*", line)
    saved = json.loads((tmp_path / "curve.json").read_text())
    assert saved["reachable"] is False
    assert saved["size_for_target"] is None
    assert saved["message"] == line.split(": ", 1)[1]


def test_json_output_is_exactly_one_object_of_the_documented_shape(tmp_path, capsys):
    points = write_points(tmp_path / "points.csv", *power_points())
    out_dir = tmp_path / "out"
    argv = ["curve", "--input", str(points), "--target", "0.9", "--at", "1000,20000", "--json"]
    assert main([*argv, "--out", str(out_dir)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary) == JSON_KEYS
    assert summary["model"] in ("logistic", "power")
    assert [p["size"] for p in summary["predictions"]] == [1000, 20000]
    for p in summary["predictions"]:
        assert list(p) == ["size", "metric", "low", "high"]
        assert p["low"] <= p["metric"] <= p["high"]
    assert list(summary["size_for_target"]) == ["size", "low", "high"]
    assert summary["target"] == 0.9 and summary["reachable"] is True
    assert (out_dir / "curve.png").stat().st_size > 0
    assert json.loads((out_dir / "curve.json").read_text())["model"] == summary["model"]


def test_real_non_monotone_curve_extrapolates_sanely():
    table = pd.read_csv(DATA / "lcdb_846_perceptron.csv")
    seen = table[table["size"] <= 400]
    curve = fit_curve(seen["size"], seen["metric"])
    later = table[table["size"] >= 1600]
    pred = curve.predict(later["size"].to_numpy())
    assert np.all(np.isfinite(pred)) and np.all((pred >= 0) & (pred <= 1))
    assert np.median(np.abs(pred - later["metric"])) < 0.05


@pytest.mark.parametrize("n", [3, 4])
def test_few_points_never_give_nan(n):
    curve = fit_curve([10, 20, 40, 80][:n], [0.5, 0.52, 0.51, 0.5][:n])
    low, high = curve.interval([1e3, 1e6])
    assert np.all(np.isfinite(curve.predict([1e3, 1e6]))) and np.all(np.isfinite(low + high))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("size,accuracy\n10,0.5\n20,0.6\n40,0.7\n", "no column 'metric'"),
        ("size,metric\n10,0.5\n20,0.6\n", "need at least 3 points"),
        ("size,metric\n10,0.5\n20,oops\n40,0.7\n", "row 3 holds 'oops'"),
    ],
)
def test_bad_points_file_is_one_line_error(tmp_path, capsys, text, message):
    path = tmp_path / "points.csv"
    path.write_text(text)
    assert main(["curve", "--input", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_constant_sizes_are_rejected():
    with pytest.raises(DataError, match="3 different training-set sizes"):
        fit_curve([100, 100, 100, 200], [0.5, 0.6, 0.55, 0.7])


def write_sweep(root: Path, backbone: str = "resnet18", full: int = 2000) -> None:
    """Records of a dataset.fraction sweep: train_images and best val/acc on a power law."""
    from cvzoo.results import write_record

    for fraction in (0.05, 0.1, 0.25, 0.5, 1.0):
        images = int(full * fraction)
        record = {"status": "ok", "dataset": "shapes", "backbone": backbone, "head": "linear",
                  "fraction": fraction, "train_images": images,
                  "best_val": {"val/acc": 0.95 - 0.8 * images**-0.4}}  # fmt: skip
        write_record(root / f"{backbone}_{fraction}", record)


def test_from_results_fits_the_fraction_sweep(tmp_path, capsys):
    write_sweep(tmp_path)
    assert main(["curve", "--from-results", str(tmp_path), "--at", "4000", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["predictions"][0]["size"] == 4000
    assert summary["predictions"][0]["metric"] == pytest.approx(0.95 - 0.8 * 4000**-0.4, abs=0.01)
    assert (tmp_path / "curve.json").is_file() and (tmp_path / "curve.png").is_file()


def test_from_results_refuses_mixed_cells_and_names_the_fix(tmp_path, capsys):
    write_sweep(tmp_path, "resnet18")
    write_sweep(tmp_path, "convnext_atto")
    assert main(["curve", "--from-results", str(tmp_path)]) == 2
    assert "--where backbone=" in capsys.readouterr().err
    argv = ["curve", "--from-results", str(tmp_path), "--where", "backbone=resnet18"]
    assert main(argv) == 0
