"""The quality model on sparse grids: one model for `cvzoo complete` and the guided search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvzoo.cli import main
from cvzoo.errors import ConfigError
from cvzoo.predictors import complete
from cvzoo.predictors.bias import Cells, fit_bias
from cvzoo.predictors.evaluation import column_zscores, hide_cells
from cvzoo.predictors.uncertainty import ColumnScaler
from cvzoo.results.matrix_io import read_table
from cvzoo.search.guided import GuidedSearch

MMDET = Path(__file__).parent / "data" / "matrices" / "mmdet_coco_1x_boxap.csv"
ADE20K = Path(__file__).parent / "data" / "matrices" / "mmseg_ade20k_512x512_80k_miou.csv"


def per_column_bias(observed: np.ndarray) -> np.ndarray:
    """What `complete` did on sparse grids before: every column centred and scaled on its own."""
    scaler = ColumnScaler.fit(observed)
    model = fit_bias(Cells.from_matrix(scaler.transform(observed)), reg=1.0)
    return np.where(np.isfinite(observed), observed, scaler.inverse(model.predict()))


def hidden_nrmse(full: np.ndarray, pred: np.ndarray, hidden: np.ndarray) -> float:
    """RMSE on the hidden cells in per-column z-scores of the full matrix."""
    _, scale = column_zscores(full)
    return float(np.sqrt(np.mean(((pred - full) / scale)[hidden] ** 2)))


def test_on_a_real_sparse_grid_the_shared_scale_model_beats_per_column_scaling() -> None:
    full = read_table(MMDET).values
    known = np.isfinite(full)
    ours, before = [], []
    for seed in range(3):
        keep = hide_cells(known, 0.3, np.random.default_rng(seed))
        observed = np.where(keep, full, np.nan)
        hidden = known & ~keep
        ours.append(hidden_nrmse(full, complete(observed).mean, hidden))
        before.append(hidden_nrmse(full, per_column_bias(observed), hidden))
    assert np.mean(ours) < 0.8 * np.mean(before)


def planted(shape: tuple[int, int], seed: int, noise: float = 0.5) -> np.ndarray:
    """Row effect + column effect + Gaussian noise."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(shape[0], 1)) + rng.normal(size=(1, shape[1])) + noise * rng.normal(size=shape)


@pytest.mark.parametrize("frac", [0.1, 0.4])  # sparse (random effects) and dense (cross-validated)
def test_std_covers_the_hidden_cells_of_a_planted_matrix(frac: float) -> None:
    inside1, inside2 = [], []
    for seed in range(4):
        full = planted((30, 20), seed)
        keep = hide_cells(np.ones(full.shape, bool), frac, np.random.default_rng(seed))
        fit = complete(np.where(keep, full, np.nan), seed=seed)
        z = np.abs(fit.mean - full)[~keep] / fit.std[~keep]
        inside1.append(np.mean(z <= 1))
        inside2.append(np.mean(z <= 2))
    assert 0.58 <= np.mean(inside1) <= 0.8 and 0.88 <= np.mean(inside2) <= 0.99


def test_als_that_cannot_be_tuned_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    observed = np.where(np.eye(6, dtype=bool), planted((6, 6), 0), np.nan)
    with pytest.raises(ConfigError, match="method 'als' needs 50 observed cells"):
        complete(observed, method="als")
    src = tmp_path / "sparse.csv"
    pd.DataFrame(observed).to_csv(src)
    assert main(["complete", str(src), str(tmp_path / "out.csv"), "--method", "als", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err and "--method auto or bias" in err
    assert not (tmp_path / "out.csv").exists()


def test_boost_without_enough_cells_is_refused() -> None:
    observed = np.full((4, 4), np.nan)
    observed[[0, 1, 2, 3], [0, 1, 2, 3]] = [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ConfigError, match="method 'boost' needs at least"):
        complete(observed, method="boost")


def test_an_empty_row_gets_the_column_effects_a_wide_std_and_one_warning(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.csv"
    src.write_text("m,a,b,c\nr1,70,60,50\nr2,72,61,\nr3,,63,52\nnew,,,\n")
    out, std = tmp_path / "out.csv", tmp_path / "std.csv"
    assert main(["complete", str(src), str(out), "--std", str(std), "--quiet"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "row 'new' has no observed value" in warning[0]
    filled, spread = pd.read_csv(out, index_col=0), pd.read_csv(std, index_col=0)
    assert filled.loc["new", "a"] > filled.loc["new", "b"] > filled.loc["new", "c"]  # column order
    assert (spread.loc["new"] > spread.drop(index="new").max()).all()


def test_complete_and_the_guided_search_predict_the_same_cells() -> None:
    full = read_table(MMDET).values
    keep = hide_cells(np.isfinite(full), 0.3, np.random.default_rng(0))
    observed = np.where(keep, full, np.nan)
    rows, cols = [f"r{i}" for i in range(full.shape[0])], [f"c{j}" for j in range(full.shape[1])]
    search = GuidedSearch(rows, cols, budget=10, observed=observed, seed=0)
    searched = search.fit()
    completed = complete(observed, seed=0)
    assert searched.method == completed.method == "random_effects"
    np.testing.assert_allclose(searched.mean, completed.mean)
    np.testing.assert_allclose(searched.std, completed.std)


def test_a_column_in_another_unit_gets_its_own_scale() -> None:
    rng = np.random.default_rng(0)
    quality = rng.normal(size=(60, 1)) + 0.2 * rng.normal(size=(60, 3))
    full = np.column_stack([70 + 5 * quality[:, 0], 60 + 5 * quality[:, 1], 0.5 + 0.01 * quality[:, 2]])
    keep = hide_cells(np.ones(full.shape, bool), 0.3, np.random.default_rng(0))
    fit = complete(np.where(keep, full, np.nan))
    assert fit.method == "random_effects" and fit.params["own_scale_columns"] == 1
    assert hidden_nrmse(full, fit.mean, ~keep) < 0.7  # one shared scale would be off by ~500x there


def test_leave_one_out_errors_calibrate_the_random_effects_std() -> None:
    full = planted((12, 10), 0, noise=1.5)  # noisier than the shares the model may pick
    keep = hide_cells(np.ones(full.shape, bool), 0.4, np.random.default_rng(0))
    fit = complete(np.where(keep, full, np.nan))
    assert fit.method == "random_effects" and fit.params["calibration"] != 1.0
    z = np.abs(fit.mean - full)[~keep] / fit.std[~keep]
    assert 0.55 <= np.mean(z <= 1) <= 0.8


def test_on_a_real_sparse_grid_the_std_covers_hidden_cells_like_a_gaussian() -> None:
    full = read_table(ADE20K).values  # most heads trained on one or two backbones
    ratios = []
    for seed in range(20):
        keep = hide_cells(np.isfinite(full), 0.2, np.random.default_rng(seed))
        fit = complete(np.where(keep, full, np.nan), seed=seed)
        hidden = np.isfinite(full) & ~keep
        ratios.append(np.abs(fit.mean - full)[hidden] / fit.std[hidden])
    ratios = np.concatenate(ratios)
    assert 0.60 <= np.mean(ratios <= 1) <= 0.75 and 0.90 <= np.mean(ratios <= 2) <= 0.98


def test_on_a_dense_grid_with_rows_at_far_apart_levels_one_shared_scale_is_kept() -> None:
    # Datasets (rows) at very different accuracy levels, each learner (column) seen on ~4 of them:
    # a column's own mean mixes in the levels of the rows it happened to be measured on.
    rng = np.random.default_rng(0)
    full = 0.7 + 0.15 * rng.normal(size=(40, 1)) + 0.02 * rng.normal(size=(1, 28))
    full = full + 0.02 * rng.normal(size=full.shape)
    keep = hide_cells(np.ones(full.shape, bool), 0.1, np.random.default_rng(0))
    observed = np.where(keep, full, np.nan)
    fit = complete(observed)
    assert fit.params["scaling"] == "shared"
    assert hidden_nrmse(full, fit.mean, ~keep) < 0.8 * hidden_nrmse(full, per_column_bias(observed), ~keep)


def test_on_a_dense_grid_in_several_units_every_column_is_predicted_in_its_own_unit() -> None:
    rng = np.random.default_rng(1)
    quality = rng.normal(size=(100, 1)) + 0.3 * rng.normal(size=(100, 8))
    units = np.array([[70, 5], [0.5, 0.01], [-2, 0.3], [900, 40]] * 2)
    full = units[:, 0] + units[:, 1] * quality
    keep = hide_cells(np.ones(full.shape, bool), 0.3, np.random.default_rng(0))
    fit = complete(np.where(keep, full, np.nan))
    assert fit.method in ("bias", "als")  # dense regime: cross-validated
    assert hidden_nrmse(full, fit.mean, ~keep) < 0.7
