"""Honest evaluation: hide cells of a full matrix, predict them, score on per-column z-scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvzoo.cli import main
from cvzoo.predictors.evaluation import evaluate_completion, hide_cells, score_completion

SFDA = Path(__file__).parent / "data" / "matrices" / "sfda_supervised_finetune_top1.csv"
MMDET = Path(__file__).parent / "data" / "matrices" / "mmdet_coco_1x_boxap.csv"


def test_hide_cells_keeps_the_fraction_and_every_row_and_column():
    known = np.ones((11, 11), dtype=bool)
    known[0, :5] = False
    for frac in (0.1, 0.2, 0.3):
        keep = hide_cells(known, frac, np.random.default_rng(0))
        assert keep.any(axis=0).all() and keep.any(axis=1).all()
        assert not (keep & ~known).any()
        # Exact once the fraction exceeds what covering every row and column needs (<= 22).
        assert keep.sum() >= round(frac * known.sum())
        assert keep.sum() == round(frac * known.sum()) or keep.sum() <= 22


def test_perfect_prediction_scores_zero_error_full_rank_correlation_and_no_regret():
    truth = np.random.default_rng(0).normal(size=(20, 4))
    hidden = np.random.default_rng(1).random(truth.shape) < 0.5
    score = score_completion(truth, truth.copy(), hidden)
    assert score.nrmse == 0 and score.spearman == pytest.approx(1) and score.regret == 0
    constant = score_completion(truth, np.zeros_like(truth), hidden)
    assert constant.spearman == 0 and constant.nrmse > 0.5


def test_lower_is_better_ranks_by_the_minimum():
    errors = np.array([[0.1, 0.5], [0.3, 0.2], [0.4, 0.9], [0.2, 0.4]])
    rows = evaluate_completion(errors, [0.5], seeds=2, lower_is_better=True)
    by_method = {row["method"]: row for row in rows}
    assert set(by_method) == {"global_mean", "bias", "als", "auto"}
    assert all(row["regret"] is None or row["regret"] >= 0 for row in rows)


def test_cli_evaluate_completion_json_on_a_real_matrix(capsys):
    argv = ["evaluate-completion", str(SFDA), "--frac", "0.3", "--seeds", "2", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {row["method"]: row for row in out["results"]}
    assert out["shape"] == [11, 11] and set(rows) == {"global_mean", "bias", "als", "auto"}
    assert rows["bias"]["nrmse"] < rows["global_mean"]["nrmse"]
    assert rows["auto"]["nrmse"] <= rows["bias"]["nrmse"] + 1e-9
    assert -1 <= rows["auto"]["spearman"] <= 1 and rows["auto"]["regret"] >= 0


def test_cli_evaluate_completion_table_and_excluded_columns(capsys):
    argv = ["evaluate-completion", str(SFDA), "--frac", "0.3", "--seeds", "1",
            "--exclude-cols", "voc2007", "sun397"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "(11×9)" in out and "nRMSE" in out and "global_mean" in out


def test_cli_evaluate_completion_unknown_column_is_one_error_line(capsys):
    argv = ["evaluate-completion", str(SFDA), "--exclude-cols", "params"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no column 'params' to exclude" in err


def test_cli_markdown_puts_baselines_and_auto_side_by_side(capsys):
    argv = ["evaluate-completion", str(MMDET), "--frac", "0.3", "--seeds", "2", "--markdown"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| matrix | kept | nRMSE bias | nRMSE ALS | nRMSE auto |")
    cells = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert cells[:2] == ["mmdet_coco_1x_boxap", "0.3"] and cells[3] == "-"  # ALS refused: too sparse
    bias, auto = (float(cells[i].split(" ± ")[0]) for i in (2, 4))
    assert auto <= bias and "random_effects 2/2" in cells[-1]  # ties it where nothing says otherwise
    assert cells[-2].count("%") == 2  # coverage on the rows that keep a single cell


def test_coverage_is_also_reported_on_rows_that_keep_a_single_cell():
    # A tall grid: covering every row takes one cell per row, so every hidden cell is in such a row.
    rng = np.random.default_rng(0)
    tall = rng.normal(size=(40, 1)) + rng.normal(size=(1, 3)) + 0.3 * rng.normal(size=(40, 3))
    auto = {row["method"]: row for row in evaluate_completion(tall, [0.2], seeds=2)}["auto"]
    assert auto["cover1_thin"] == pytest.approx(auto["cover1"])
    assert auto["cover2_thin"] == pytest.approx(auto["cover2"])
    # A dense grid keeps several cells in every row: nothing to report there.
    dense = rng.normal(size=(6, 1)) + rng.normal(size=(1, 8)) + 0.3 * rng.normal(size=(6, 8))
    auto = {row["method"]: row for row in evaluate_completion(dense, [0.6], seeds=2)}["auto"]
    assert auto["cover1_thin"] is None and 0 <= auto["cover1"] <= 1
