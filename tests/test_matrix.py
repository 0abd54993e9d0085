"""The quality matrix: records pivoted over two keys, seeds aggregated, written by one writer."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from cvzoo.cli import main
from cvzoo.errors import ConfigError
from cvzoo.results import write_record
from cvzoo.results.matrix_io import read_table
from cvzoo.results.matrix_writer import write_matrix
from cvzoo.results.pivot import pivot_records
from cvzoo.results.plots import FAILED_COLOR, MISSING_COLOR
from cvzoo.results.quality_matrix import QualityMatrix
from cvzoo.results.store import find_records


def run(backbone, head, miou=None, seed=0, status="ok", dataset="shapes", **extra):
    """One segmentation record; failed runs carry no metrics."""
    return {
        "status": status,
        "backbone": backbone,
        "head": head,
        "dataset": dataset,
        "seed": seed,
        "config_hash": f"{backbone}-{head}-{dataset}",
        "monitor": "val/mIoU",
        "best_val": {} if miou is None else {"val/mIoU": miou},
        "test": {} if miou is None else {"test/mIoU": miou - 0.05},
        "config": {"backbone": {"name": backbone}, "optimizer": {"lr": 0.01}},
        **extra,
    }


@pytest.fixture
def logs(tmp_path):
    """2x2 sweep: resnet18 x fpn with 3 seeds, a failed cell, a missing cell, another dataset."""
    runs = [
        run("resnet18", "fpn", 0.80, seed=0),
        run("resnet18", "fpn", 0.82, seed=1),
        run("resnet18", "fpn", 0.84, seed=2),
        run("resnet18", "unet", 0.70),
        run("convnext_atto", "fpn", status="failed", error="CUDA out of memory"),
        run("convnext_atto", "fpn", seed=1, status="diverged"),
        run("resnet18", "fpn", 0.10, dataset="digits"),  # filtered away by --where
        run("convnext_atto", "unet", 0.20, dataset="digits"),
    ]
    for i, record in enumerate(runs):
        write_record(tmp_path / "multirun" / str(i), record)
    return tmp_path / "multirun"


def shapes_matrix(logs):
    return pivot_records(find_records([logs], {"dataset": "shapes"}), "backbone", "head", "val/mIoU")


def test_pivot_aggregates_seeds_and_marks_failed_and_missing_cells(logs):
    matrix = shapes_matrix(logs)
    assert matrix.rows == ["convnext_atto", "resnet18"]  # sorted
    assert matrix.cols == ["fpn", "unet"]
    mean, std, status = matrix.frame("values"), matrix.frame("std"), matrix.frame("status")
    assert mean.at["resnet18", "fpn"] == pytest.approx(0.82)
    assert std.at["resnet18", "fpn"] == pytest.approx(0.02)  # sample std over seeds
    assert matrix.frame("count").at["resnet18", "fpn"] == 3
    assert mean.at["resnet18", "unet"] == pytest.approx(0.70)
    assert np.isnan(std.at["resnet18", "unet"])  # one seed: no spread
    assert status.loc["convnext_atto"].tolist() == ["failed", "not run"]
    assert status.loc["resnet18"].tolist() == ["trained", "trained"]
    assert np.isnan(mean.at["convnext_atto", "unet"])
    assert matrix.count.tolist() == [[0, 0], [3, 1]]
    assert matrix.mixed == {}  # every cell is one dataset, one recipe


def test_ok_seed_beats_failed_seed_and_reruns_replace_older_records():
    records = [
        run("a", "x", seed=0, status="running"),  # a third attempt still in progress
        run("a", "x", 0.9, seed=0),  # newest finished re-run of seed 0
        run("a", "x", 0.1, seed=0),
        run("a", "x", status="failed", seed=1),
    ]
    matrix = pivot_records(records, "backbone", "head", "val/mIoU")
    assert matrix.frame().at["a", "x"] == pytest.approx(0.9)
    assert matrix.frame("count").at["a", "x"] == 1
    assert matrix.frame("status").at["a", "x"] == "trained"


def test_numeric_axes_sort_numerically_and_any_key_pivots():
    records = [run("r", "h", 0.1 * f, fraction=f, seed=int(f * 4)) for f in (1.0, 0.25, 0.5)]
    by_fraction = pivot_records(records, "fraction", "optimizer.lr", "test/mIoU")
    assert by_fraction.rows == ["0.25", "0.5", "1"]
    assert by_fraction.cols == ["0.01"]
    assert by_fraction.frame()["0.01"].tolist() == pytest.approx([-0.025, 0.0, 0.05])


def test_unknown_metric_or_key_names_the_available_ones(logs):
    records = find_records([logs])
    with pytest.raises(ConfigError, match=r"metric 'val/miou'.*did you mean: val/mIoU"):
        pivot_records(records, "backbone", "head", "val/miou")
    with pytest.raises(ConfigError, match="did you mean: backbone"):
        pivot_records(records, "backbone_name", "head", "val/mIoU")


def test_write_matrix_files(logs, tmp_path):
    paths = write_matrix(shapes_matrix(logs), tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        "matrix.csv", "matrix_std.csv", "matrix_count.csv", "matrix.md", "matrix.png"
    }  # fmt: skip
    means = pd.read_csv(paths["csv"], index_col=0, keep_default_na=False, dtype=str)
    assert means.index.name == "backbone"
    assert means.loc["convnext_atto"].tolist() == ["failed", ""]
    assert float(means.at["resnet18", "fpn"]) == pytest.approx(0.82)
    counts = pd.read_csv(paths["count_csv"], index_col=0)
    assert counts.loc["resnet18"].tolist() == [3, 1]
    md = paths["md"].read_text()
    assert "| convnext_atto | failed | — |" in md
    assert "| resnet18 | 0.820 ± 0.020 (n=3) | 0.700 (n=1) |" in md


def count_pixels(png, hex_color):
    """How many pixels of the PNG have exactly this colour."""
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    image = (matplotlib.image.imread(png)[..., :3] * 255).round()
    return int(np.all(image == rgb, axis=-1).sum())


def test_heatmap_shows_missing_cells_grey_and_failed_cells_hatched(logs, tmp_path):
    png = write_matrix(shapes_matrix(logs), tmp_path / "gaps")["png"]
    assert count_pixels(png, MISSING_COLOR) > 1000
    assert count_pixels(png, FAILED_COLOR) > 500
    full = pivot_records([run("a", "x", 0.5), run("b", "x", 0.6)], "backbone", "head", "val/mIoU")
    full_png = write_matrix(full, tmp_path / "full")["png"]
    assert count_pixels(full_png, MISSING_COLOR) < 100  # a few anti-aliased text pixels at most
    assert count_pixels(full_png, FAILED_COLOR) < 100


def test_cli_matrix_writes_files_into_first_dir_and_prints_table(logs, capsys):
    argv = ["matrix", str(logs), "--rows", "backbone", "--cols", "head", "--metric", "val/mIoU"]
    assert main([*argv, "--where", "dataset=shapes"]) == 0
    out = capsys.readouterr().out
    assert "| resnet18 | 0.820 ± 0.020 (n=3) | 0.700 (n=1) |" in out
    for name in ("matrix.csv", "matrix_std.csv", "matrix_count.csv", "matrix.md", "matrix.png"):
        assert (logs / name).is_file()


def test_cli_matrix_other_axes_default_metric_and_out_dir(logs, tmp_path, capsys):
    assert main(["matrix", str(logs), "--cols", "dataset", "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "**val/mIoU** by backbone × dataset" in out
    assert "Note: the records also differ in head=fpn|unet; pin one with --where head=fpn" in out
    counts = pd.read_csv(tmp_path / "m" / "matrix_count.csv", index_col=0)
    assert counts.to_dict("index") == {
        "convnext_atto": {"digits": 1, "shapes": 0},
        "resnet18": {"digits": 1, "shapes": 4},
    }


def test_cli_matrix_errors_are_one_line_with_exit_code_2(logs, capsys):
    assert main(["matrix", str(logs), "--metric", "val/miou"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean: val/mIoU" in err[0]
    assert main(["matrix", str(logs), "--where", "dataset"]) == 2
    assert "expected key=value" in capsys.readouterr().err
    assert main(["matrix", str(logs), "--where", "dataset=cifar"]) == 2
    assert "no records under" in capsys.readouterr().err


def test_one_writer_marks_predicted_earlier_failed_cells_and_the_winner(tmp_path):
    status = np.array([["trained", "earlier"], ["failed", "predicted"]], dtype=object)
    matrix = QualityMatrix(
        ["a", "b"], ["x", "y"], np.array([[0.8, 0.7], [np.nan, 0.9123]]), "backbone", "head", "val/acc",
        std=np.array([[np.nan, np.nan], [np.nan, 0.05]]), count=np.array([[1, 1], [0, 0]]),
        status=status, winner=(0, 0),
    )  # fmt: skip
    paths = write_matrix(matrix, tmp_path, notes=["Winner: a x"])
    cells = pd.read_csv(paths["csv"], index_col=0, keep_default_na=False, dtype=str)
    assert cells.loc["a"].tolist() == ["0.8", "0.7"]
    assert cells.loc["b"].tolist() == ["failed", "~0.9123"]
    md = paths["md"].read_text()
    assert "| a | **0.800 (n=1)** | 0.700 (n=1) (earlier) |" in md
    assert "| b | failed | ~0.912 ± 0.050 |" in md
    assert md.rstrip().endswith("Winner: a x")
    assert [c["status"] for c in matrix.cells()] == ["trained", "earlier", "failed", "predicted"]
    assert matrix.best_measured() == (0, 0)


def test_a_matrix_read_from_csv_is_measured_where_filled(tmp_path):
    (tmp_path / "m.csv").write_text("model,d1,d2\nm1,0.5,\nm2,,0.7\n")
    matrix = read_table(tmp_path / "m.csv")
    assert matrix.row_key == "model" and matrix.count.tolist() == [[1, 0], [0, 1]]
    assert matrix.frame("status").loc["m1"].tolist() == ["trained", "not run"]
    completed = matrix.completed(np.full((2, 2), 0.6), np.full((2, 2), 0.1))
    assert completed.status.tolist() == [["trained", "predicted"], ["predicted", "trained"]]
    assert completed.values[0, 1] == pytest.approx(0.6) and completed.values[0, 0] == pytest.approx(0.5)
