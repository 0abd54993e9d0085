"""hydra/sweeper=guided: a budgeted sweep that covers the grid, predicts the rest, reuses records."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cvzoo.search.guided import GuidedSearch
from cvzoo.sweeps.axes import parse_overrides
from cvzoo.sweeps.guided_grid import build_grid, launcher_parallelism

GRID = ("-m", "hydra/sweeper=guided", "backbone=test_resnet,test_vit,test_convnext", "head=linear,mlp")


def test_grid_rows_are_backbones_and_columns_heads():
    grid = build_grid(parse_overrides(["head=linear,mlp", "trainer.max_epochs=1", "backbone=a,b,c"]))
    assert grid.shape == (3, 2) and grid.rows.key == "backbone" and grid.cols.key == "head"
    assert grid.overrides((2, 1)) == ["trainer.max_epochs=1", "backbone=c", "head=mlp"]


def test_further_swept_keys_are_recipe_factors_of_every_cell():
    grid = build_grid(parse_overrides(["optimizer.lr=0.1,0.01", "backbone=a,b", "head=x,y", "seed=1"]))
    assert grid.shape == (2, 2) and [f.key for f in grid.factors] == ["optimizer.lr"]
    assert len(grid.configs()) == 8 and grid.configs()[1] == (0, 0, 1)
    assert grid.overrides((1, 0, 1)) == ["seed=1", "backbone=b", "head=x", "optimizer.lr=0.01"]
    assert grid.recipe((1, 0, 1)) == {"optimizer.lr": "0.01"}


def test_one_swept_key_gives_one_column():
    grid = build_grid(parse_overrides(["backbone=a,b,c"]))
    assert grid.shape == (3, 1) and grid.overrides((1, 0)) == ["backbone=b"]


def test_the_whole_covering_design_comes_first_when_it_fits_the_budget():
    for seed in range(5):
        search = GuidedSearch(["a", "b", "c"], ["x", "y"], 4, seed=seed)  # full_design by default
        first = [search.ask()[0] for _ in range(3)]
        assert {r for r, _ in first} == {0, 1, 2} and {c for _, c in first} == {0, 1}
    cut = GuidedSearch(["a", "b", "c"], ["x", "y"], 4, full_design=False, seed=0)  # init_share 0.25
    assert len(cut._design) == 1


def test_batch_size_follows_the_launcher():
    assert launcher_parallelism(None) == 1
    assert launcher_parallelism({"_target_": "basic"}) == 1
    assert launcher_parallelism({"n_jobs": 4}) == 4
    assert launcher_parallelism({"array_parallelism": 16}) == 16


def guided_sweep(root: Path) -> Path:
    """The newest guided sweep directory under root."""
    found = sorted(p.parent for p in (root / "logs" / "train" / "multiruns").glob("*/guided.json"))
    return found[-1]


def cells_of(folder: Path) -> list[tuple[str, str]]:
    """(backbone, head) of every record trained in one sweep directory."""
    records = [json.loads(p.read_text()) for p in folder.rglob("result.json")]
    return [(r["backbone"], r["head"]) for r in records if r["status"] == "ok"]


@pytest.mark.slow
def test_guided_sweep_spends_the_budget_covers_the_grid_and_reuses_earlier_records(run_train, tmp_path):
    result = run_train(*GRID, "hydra.sweeper.budget=4")
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = guided_sweep(tmp_path)
    trained = cells_of(sweep)
    assert len(trained) == 4 and len(set(trained)) == 4
    assert {b for b, _ in trained} == {"test_resnet", "test_vit", "test_convnext"}
    assert {h for _, h in trained} == {"linear", "mlp"}
    summary = json.loads((sweep / "guided.json").read_text())
    statuses = [c["status"] for c in summary["cells"]]
    assert statuses.count("trained") == 4 and statuses.count("predicted") == 2
    assert summary["spent"] == 4 and summary["winner"] in [list(c) for c in trained]
    assert summary["estimated_regret"] >= 0
    assert summary["workers"] == 1 and summary["batches"] == 4 and 0 <= summary["idle_share"] < 1
    matrix = pd.read_csv(sweep / "matrix.csv", index_col=0, dtype=str)
    assert matrix.shape == (3, 2)
    assert sum(str(v).startswith("~") for v in matrix.to_numpy().ravel()) == 2
    assert "predicted" in (sweep / "matrix.md").read_text()
    assert (sweep / "matrix.png").stat().st_size > 0

    again = run_train(*GRID, "hydra.sweeper.budget=1")  # the earlier 4 cells are not trained again
    assert again.returncode == 0, again.stderr[-3000:]
    second = guided_sweep(tmp_path)
    assert second != sweep
    (new,) = cells_of(second)
    assert new not in trained
    summary = json.loads((second / "guided.json").read_text())
    statuses = [c["status"] for c in summary["cells"]]
    assert statuses.count("earlier") == 4 and statuses.count("trained") == 1
    assert statuses.count("predicted") == 1


@pytest.mark.slow
def test_a_failed_cell_counts_as_spent_and_is_marked(run_train, tmp_path):
    result = run_train(
        "-m", "hydra/sweeper=guided", "backbone.name=test_resnet,no_such_model_xyz", "head=linear,mlp",
        "hydra.sweeper.budget=2",
    )  # fmt: skip
    assert result.returncode == 1  # exit status = number of failed jobs, as with the basic sweeper
    sweep = guided_sweep(tmp_path)
    summary = json.loads((sweep / "guided.json").read_text())
    assert summary["spent"] == 2 and summary["failed"] == 1
    failed = [c for c in summary["cells"] if c["status"] == "failed"]
    assert [c["backbone"] for c in failed] == ["no_such_model_xyz"]
    matrix = pd.read_csv(sweep / "matrix.csv", index_col=0, dtype=str)
    assert (matrix == "failed").to_numpy().sum() == 1
