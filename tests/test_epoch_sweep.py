"""hydra/sweeper=guided over configurations: recipe factors, epochs as fidelity, staged training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from cvzoo.data.epoch_order import EpochShuffle
from cvzoo.errors import ConfigError
from cvzoo.results.record import load_record
from cvzoo.search.fidelity import FidelityConfig
from cvzoo.search.knobs import GuidedKnobs
from cvzoo.sweeps.epoch_sweep import epoch_budget, schedule
from cvzoo.sweeps.guided_sweeper import GuidedSweeper
from cvzoo.training.compose import compose_train
from cvzoo.training.continuation import continue_run
from cvzoo.training.run import run_training
from cvzoo.training.setup import build_trainer
from cvzoo.training.stats import RunStats
from tests.conftest import CONFIG_DIR, FAST, REPO

# 2 backbones x 2 heads x 2 learning rates, 3 epochs each at full length.
CUBE = ("backbone=test_resnet,test_vit", "head=linear,mlp", "optimizer.lr=1e-3,3e-3", "trainer.max_epochs=3")


def test_the_budget_is_a_share_or_a_number_of_epochs_or_runs():
    assert epoch_budget(0.5, 8, 3, "epochs") == 12  # half of 8 configurations x 3 epochs
    assert epoch_budget(5, 8, 3, "epochs") == 5
    assert epoch_budget(0.25, 8, 3, "runs") == 6  # 2 whole runs of 3 epochs
    with pytest.raises(ConfigError, match=r"budget=1.5 is invalid; .* number of epochs >= 1"):
        epoch_budget(1.5, 8, 3, "epochs")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fidelity": "epoch"}, r"fidelity='epoch' is unknown; use one of runs, epochs"),
        ({"eta": 1}, r"hydra\.sweeper\.eta=1\.0 must be > 1"),
        ({"min_epochs": 0}, r"hydra\.sweeper\.min_epochs=0 must be >= 1"),
        ({"budget": "ten"}, r"hydra\.sweeper\.budget='ten' is not a positive number"),
    ],
)
def test_bad_sweeper_options_are_one_line_naming_the_value(options, message):
    with pytest.raises(ConfigError, match=message):
        GuidedKnobs.from_options(**options)


def test_inside_hydra_a_bad_option_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        GuidedSweeper(fidelity="epoch")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "fidelity='epoch'" in err and "Traceback" not in err


def test_stages_must_fit_the_full_length():
    assert schedule("epochs", FidelityConfig(1, 3.0), 10).rungs(10) == [1, 3, 9, 10]
    assert schedule("runs", FidelityConfig(1, 3.0), 10).rungs(10) == [10]  # one stage: whole runs
    with pytest.raises(ConfigError, match=r"min_epochs=4 exceeds trainer.max_epochs=3; lower min_epochs"):
        schedule("epochs", FidelityConfig(4, 3.0), 3)


def test_the_training_order_depends_on_seed_and_epoch_only():
    first, again, other = EpochShuffle(10, seed=1), EpochShuffle(10, seed=1), EpochShuffle(10, seed=2)
    first.set_epoch(3)
    again.set_epoch(3)
    assert list(first) == list(again) and sorted(first) == list(range(10))
    other.set_epoch(3)
    assert list(other) != list(first)


def test_a_run_trained_in_stages_equals_one_trained_straight(tmp_path):
    cfg = (*FAST, "trainer.max_epochs=2", "scheduler=cosine")  # the schedule spans both epochs
    straight = run_training(compose_train(CONFIG_DIR, tmp_path, *cfg, output_dir=tmp_path / "straight"))
    staged_cfg = compose_train(
        CONFIG_DIR, tmp_path, *cfg, "trainer.stop_after_epochs=1", output_dir=tmp_path / "staged"
    )
    first = run_training(staged_cfg)
    assert (first["epochs"], first["stop_reason"]) == (1, "paused")
    staged = continue_run(tmp_path / "staged", overrides={"trainer.stop_after_epochs": 2})
    assert staged["run_dir"] == str(tmp_path / "staged")  # one record per configuration, grown
    assert (staged["epochs"], staged["stop_reason"]) == (2, "complete")
    assert [row["epoch"] for row in staged["history"]] == [0, 1]  # each epoch once
    assert staged["history"] == straight["history"]  # same losses, metrics and learning rates
    for key in ("best_val", "final_val", "test", "config_hash"):
        assert staged[key] == straight[key], key
    weights = [
        torch.load(Path(r["last_checkpoint"]), weights_only=False)["state_dict"] for r in (straight, staged)
    ]
    assert all(torch.allclose(weights[0][k].float(), weights[1][k].float()) for k in weights[0])


def sweep(root: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    """A guided ``train.py -m`` into ``root/sw`` (tiny models, digits), optionally with a fault."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("CVZOO_FAULT", None)
    if fault:
        env["CVZOO_FAULT"] = fault
    argv = [sys.executable, str(REPO / "train.py"), "-m", "hydra/sweeper=guided", *FAST,
            f"hydra.sweep.dir={root / 'sw'}", f"paths.log_dir={root / 'logs'}",
            f"paths.data_dir={root / 'data'}", *args]  # fmt: skip
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900)


def records(root: Path) -> dict[str, dict]:
    """Every record of the sweep, by run directory."""
    return {str(p.parent): load_record(p) for p in sorted((root / "sw").rglob("result.json"))}


@pytest.mark.slow
def test_a_three_axis_sweep_in_epochs_stays_in_budget_and_names_the_best_recipe(tmp_path):
    result = sweep(tmp_path, *CUBE, "hydra.sweeper.fidelity=epochs", "hydra.sweeper.budget=0.5")
    assert result.returncode == 0, result.stderr[-3000:]
    found = records(tmp_path)
    assert sum(r["epochs"] for r in found.values()) <= 12  # half of 8 configurations x 3 epochs
    assert all([h["epoch"] for h in r["history"]] == list(range(r["epochs"])) for r in found.values())
    assert {r["stop_reason"] for r in found.values()} <= {"paused", "complete"}
    summary = json.loads((tmp_path / "sw" / "guided.json").read_text())
    assert (
        summary["epochs_used"] == sum(r["epochs"] for r in found.values()) <= summary["budget_epochs"] == 12
    )
    assert len(summary["configs"]) == 8 and 0 <= summary["idle_share"] < 1
    for config in summary["configs"]:
        assert config["overrides"][-1].startswith("optimizer.lr=") and config["predicted_mean"] is not None
    trained = [c for c in summary["configs"] if c["status"] == "trained"]
    assert trained and all(c["epochs"] == 3 for c in trained)
    for cell in summary["cells"]:  # the best configuration of the cell, its recipe named
        mine = [
            c for c in summary["configs"] if (c["backbone"], c["head"]) == (cell["backbone"], cell["head"])
        ]
        score = [c["value"] if c["status"] == "trained" else c["predicted_mean"] for c in mine]
        best = mine[score.index(max(score))]
        assert cell["recipe"] == f"optimizer.lr={best['recipe']['optimizer.lr']}"
        assert cell["value"] == pytest.approx(max(score))
    labels = pd.read_csv(tmp_path / "sw" / "matrix_label.csv", index_col=0)
    assert labels.shape == (2, 2) and labels.to_numpy().ravel()[0].startswith("optimizer.lr=")
    assert "· optimizer.lr=" in (tmp_path / "sw" / "matrix.md").read_text()


@pytest.mark.slow
def test_a_killed_epoch_sweep_resumes_without_training_a_finished_epoch_again(tmp_path):
    args = (*CUBE, "hydra.sweeper.fidelity=epochs", "hydra.sweeper.budget=0.5")
    killed = sweep(tmp_path, *args, fault="train_step=5")  # in the first continuation's 2nd epoch
    assert killed.returncode == -9, killed.stderr[-2000:]
    before = records(tmp_path)
    (killed_run,) = [r for r in before.values() if r["status"] == "running"]  # the continuation
    assert killed_run["stop_reason"] == "promoted" and killed_run["epochs"] == 1
    done = {
        d: Path(d, "result.json").stat().st_mtime_ns
        for d, r in before.items()
        if r["stop_reason"] == "complete"
    }
    resumed = sweep(tmp_path, *args, "+resume=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = records(tmp_path)
    assert set(before) <= set(after)  # every configuration keeps its run directory
    assert all(r["status"] == "ok" for r in after.values())
    assert all([h["epoch"] for h in r["history"]] == list(range(r["epochs"])) for r in after.values())
    assert {d: Path(d, "result.json").stat().st_mtime_ns for d in done} == done  # finished: untouched
    for run_dir, record in before.items():  # grown only by continuing from its own checkpoint
        grown = after[run_dir]["epochs"] > len(record["history"])
        assert not grown or after[run_dir]["resumed_from"].startswith(run_dir)
    summary = json.loads((tmp_path / "sw" / "guided.json").read_text())
    finished_before = sum(len(r["history"]) for r in before.values())
    assert sum(r["epochs"] for r in after.values()) == finished_before + summary["epochs_used"]


@pytest.mark.slow
def test_a_recipe_sweep_in_whole_runs_trains_its_budget_of_runs_to_the_end(tmp_path):
    result = sweep(tmp_path, "backbone=test_resnet,test_vit", "head=linear,mlp", "optimizer=sgd,adamw",
                   "hydra.sweeper.budget=3")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    found = records(tmp_path).values()
    assert len(found) == 3 and all(r["stop_reason"] == "complete" and r["epochs"] == 1 for r in found)
    summary = json.loads((tmp_path / "sw" / "guided.json").read_text())
    assert summary["fidelity"] == "runs" and summary["epochs_used"] == 3
    assert [c["status"] for c in summary["configs"]].count("trained") == 3
    assert summary["winner"][2].startswith("optimizer=")


@pytest.mark.slow
def test_a_failed_configuration_is_recorded_and_the_epoch_sweep_goes_on(tmp_path):
    bad_grid = ("backbone.name=test_resnet,no_such_model_xyz", "head=linear,mlp", "trainer.max_epochs=2")
    result = sweep(tmp_path, *bad_grid, "hydra.sweeper.fidelity=epochs", "hydra.sweeper.budget=1.0")
    assert result.returncode == 2  # exit status = number of failed jobs
    summary = json.loads((tmp_path / "sw" / "guided.json").read_text())
    failed = [c for c in summary["configs"] if c["status"] == "failed"]
    assert [c["backbone"] for c in failed] == ["no_such_model_xyz"] * 2
    assert all(load_record(c["run_dir"])["stop_reason"] == "failed" for c in failed)
    good = [c for c in summary["configs"] if c["backbone"] == "test_resnet"]
    assert [c["epochs"] for c in good] == [2, 2] and summary["stop_reason"] == "every configuration ended"
    assert "failed | failed" in (tmp_path / "sw" / "matrix.md").read_text()


@pytest.mark.parametrize("value", [0, -2, 1.5, "three"])
def test_stop_after_epochs_not_a_whole_number_of_epochs_is_one_clear_error(compose_cfg, tmp_path, value):
    cfg = compose_cfg(*FAST, f"trainer.stop_after_epochs={value}")
    with pytest.raises(ConfigError, match=f"trainer.stop_after_epochs={value!r} is invalid"):
        build_trainer(cfg, RunStats(), tmp_path)
