"""The offline simulator: replay guided vs random search on a complete matrix, and its CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cvzoo.cli import main
from cvzoo.results.matrix_io import read_table
from cvzoo.search import guided
from cvzoo.search.simulate import replay_guided, replay_random, score_outcomes, simulate

DATA = Path(__file__).parent / "data" / "matrices"
TWO_FACTOR = DATA / "sim_two_factor.csv"  # 16 x 8: biases + rank-1 interaction + noise 0.3
PLANTED = DATA / "sim_planted_rank2.csv"  # 12 x 10: biases + strong rank-2 interaction
PARTIAL = DATA / "sim_partial_rank2.csv"  # the same with 30% of the cells never measured
MODEL_ZOO = Path(__file__).parents[1] / "benchmarks" / "matrices"  # OpenMMLab README numbers


def test_guided_replay_finds_the_best_cell_of_a_planted_low_rank_matrix() -> None:
    full = read_table(TWO_FACTOR).values
    result = simulate(full, [0.3], seeds=3)
    assert result.runs == [38]
    assert result.guided["p_best"] == [1.0] and result.guided["regret"] == [0.0]


def test_guided_beats_random_and_gets_within_1pct_on_a_two_factor_matrix() -> None:
    result = simulate(read_table(TWO_FACTOR).values, [0.2, 0.3], seeds=20)
    assert result.guided["p_within_1pct"][1] >= 0.9
    for ours, theirs in zip(result.guided["regret"], result.random["regret"]):
        assert ours < theirs


@pytest.mark.parametrize("name", ["mmseg_cityscapes_512x1024_80k_miou", "mmdet_coco_1x_boxap"])
def test_guided_beats_random_on_a_sparse_real_backbone_by_head_matrix(name: str) -> None:
    full = read_table(MODEL_ZOO / f"{name}.csv").values  # 18 x 23 (78 cells), 37 x 24 (114 cells)
    result = simulate(full, [0.2, 0.4], seeds=10)
    for guided_regret, random_regret in zip(result.guided["regret"], result.random["regret"]):
        assert guided_regret < random_regret


def test_guided_replay_only_reveals_measured_cells() -> None:
    full = read_table(PARTIAL).values
    revealed: list[tuple[int, int]] = []

    class Recording(np.ndarray):
        def __getitem__(self, key):  # type: ignore[no-untyped-def]
            if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], int):
                revealed.append(key)
            return super().__getitem__(key)

    regret, spent = replay_guided(full.view(Recording), 20, seed=0)
    assert spent <= 20 and len(revealed) == spent and len(set(revealed)) == spent  # may stop early
    assert all(np.isfinite(full[cell]) for cell in revealed)
    assert regret >= 0


def test_random_replay_and_scores_in_both_orientations() -> None:
    full = np.array([[1.0, 2.0], [3.0, np.nan]])
    assert replay_random(full, 3, seed=0) == 0.0  # every measured cell drawn
    assert replay_random(full, 3, seed=0, lower_is_better=True) == 0.0
    scores = score_outcomes(np.array([0.0, 0.5, 2.0]), tol=0.5)
    assert scores == {"regret": pytest.approx(2.5 / 3), "p_within_1pct": 2 / 3, "p_best": 1 / 3}


def test_cli_json_has_exactly_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", str(PARTIAL), "--budget", "0.2", "15", "--seeds", "2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["budget", "guided", "random"]
    assert out["budget"] == [0.2, 15]
    for strategy in ("guided", "random"):
        assert list(out[strategy]) == ["regret", "p_within_1pct", "p_best"]
        assert all(len(values) == 2 for values in out[strategy].values())
        assert all(0 <= p <= 1 for p in out[strategy]["p_best"])


def test_cli_table_names_both_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(PLANTED), "--budget", "0.1", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "| budget | runs | guided regret |" in out and "random P(best)" in out
    assert out.strip().splitlines()[-1].startswith("| 0.1 | 12 |")


def test_cli_excludes_columns_by_glob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = read_table(PLANTED).frame()
    table["params_a"], table["flops_a"] = 1e6, 1e9  # side features, not cells
    path = tmp_path / "with_side_features.csv"
    table.to_csv(path)
    args = ["--budget", "0.2", "--seeds", "1", "--json", "--exclude-cols", "params_*", "flops_*"]
    assert main(["simulate", str(path), *args]) == 0
    assert json.loads(capsys.readouterr().out)["random"]["regret"][0] < 100


def test_cli_uses_excluded_columns_as_features_not_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = read_table(PLANTED).frame()
    table["sim_params"] = np.arange(len(table)) * 1000.0  # would be the "best cell" if kept
    path = tmp_path / "with_params.csv"
    table.to_csv(path)
    seen: list[np.ndarray] = []
    fit = guided.fit_completion

    def recording_fit(observed: np.ndarray, **kwargs: Any) -> Any:
        seen.append(kwargs["row_features"])
        return fit(observed, **{**kwargs, "row_features": None})  # skip the slow boosting

    monkeypatch.setattr(guided, "fit_completion", recording_fit)
    args = ["--budget", "20", "--seeds", "2", "--exclude-cols", "sim_params", "--features"]
    assert main(["simulate", str(path), "--json", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert max(out["guided"]["regret"] + out["random"]["regret"]) < 20  # not ~11,000
    assert seen and all(f.shape == (12, 1) and f[3, 0] == 3000.0 for f in seen)


def test_cli_replays_the_sweepers_design_rule_unless_told_otherwise(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from omegaconf import OmegaConf

    sweeper = OmegaConf.load(Path(__file__).parents[1] / "configs/hydra/sweeper/guided.yaml")
    seen: list[bool] = []
    real = guided.GuidedSearch.__init__

    def recording_init(self: guided.GuidedSearch, *args: Any, **kwargs: Any) -> None:
        seen.append(kwargs["full_design"])
        real(self, *args, **kwargs)

    monkeypatch.setattr(guided.GuidedSearch, "__init__", recording_init)
    for flags in ([], ["--no-full-design"]):
        assert main(["simulate", str(PLANTED), "--budget", "0.2", "--seeds", "1", "--json", *flags]) == 0
    capsys.readouterr()
    assert seen == [sweeper.full_design, False] and sweeper.full_design is True


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing.csv"], "no such file"),
        ([str(PLANTED), "--budget", "1.5"], "--budget '1.5'"),
        ([str(PLANTED), "--budget", "abc"], "--budget 'abc'"),
        ([str(PLANTED), "--seeds", "0"], "--seeds 0"),
        ([str(PLANTED), "--init-share", "0"], "--init-share 0.0"),
        ([str(PLANTED), "--exclude-cols", "sim_hed1"], "sim_head1"),
    ],
)
def test_cli_bad_input_fails_with_one_line(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
