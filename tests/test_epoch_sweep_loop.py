"""The epoch sweep's loop without training: a stand-in launcher writes the records a job would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from cvzoo.results.record import load_record, write_record
from cvzoo.search.fidelity import FidelityConfig
from cvzoo.sweeps.axes import parse_overrides
from cvzoo.sweeps.config_report import best_per_cell, config_rows, summary_line, sweep_summary
from cvzoo.sweeps.epoch_sweep import ConfigSweep
from cvzoo.sweeps.guided_grid import build_grid

GRID = ["backbone=a,b,c", "head=x,y", "optimizer.lr=0.1,0.01"]  # 12 configurations


class FakeLauncher:
    """Trains nothing: each job extends its configuration's curve (loss 1 / (epoch + quality))."""

    def __init__(self, root: Path, broken: str | None = None) -> None:
        self.root, self.broken, self.batches = root, broken, []

    def quality(self, items: dict[str, str]) -> float:
        """A made-up final loss: backbone c and lr 0.01 are best."""
        return {"a": 3.0, "b": 2.0, "c": 1.0}[items["backbone"]] + (
            0.5 if items["optimizer.lr"] == "0.1" else 0
        )

    def __call__(self, overrides: list[list[str]], first: int) -> list[JobReturn]:
        self.batches.append(overrides)
        return [self.job(o, first + n) for n, o in enumerate(overrides)]

    def job(self, overrides: list[str], number: int) -> JobReturn:
        items = dict(o.split("=", 1) for o in overrides)
        run_dir = Path(items.get("hydra.sweep.subdir", str(self.root / str(number))).strip("'"))
        target = int(items.get("trainer.stop_after_epochs", 6))
        history = load_record(run_dir)["history"] if "ckpt_path" in items else []
        failed = items["backbone"] == self.broken
        history += [
            {"epoch": e, "val/loss": 1 / (e + 1) + self.quality(items)} for e in range(len(history), target)
        ]
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        torch.save({}, run_dir / "checkpoints" / "last.ckpt")
        reason = "failed" if failed else ("complete" if target == 6 else "paused")
        record = {"status": "failed" if failed else "ok", "monitor": "val/loss", "run_dir": str(run_dir)}
        write_record(run_dir, {**record, "epochs": len(history), "history": history, "stop_reason": reason})
        result = JobReturn(hydra_cfg=OmegaConf.create({"hydra": {"runtime": {"output_dir": str(run_dir)}}}))
        result.status = JobStatus.COMPLETED
        return result


def sweep(tmp_path: Path, launcher: FakeLauncher, workers: int, budget: float) -> ConfigSweep:
    """A lower-is-better epoch sweep over GRID, 6 epochs at full length, stages 1, 3, 6."""
    grid = build_grid(parse_overrides(GRID))
    return ConfigSweep(grid, launcher, max_epochs=6, fidelity="epochs", stages=FidelityConfig(1, 3.0),
                       budget=budget, workers=workers, lower_is_better=True, seed=0)  # fmt: skip


def test_batches_hold_distinct_decisions_and_the_epoch_budget_holds(tmp_path):
    launcher = FakeLauncher(tmp_path)
    done = sweep(tmp_path, launcher, workers=3, budget=0.4)  # 0.4 x 12 x 6 = 29 epochs
    done.run()
    assert done.budget == 29 and done.used <= 29
    for batch in launcher.batches:
        configs = [
            tuple(o for o in job if not o.startswith(("trainer.", "hydra.", "ckpt_path"))) for job in batch
        ]
        assert len(batch) <= 3 and len(set(configs)) == len(configs)  # no configuration twice
    records = [load_record(p) for p in tmp_path.rglob("result.json")]
    assert sum(r["epochs"] for r in records) == done.used  # each epoch paid once
    assert all([h["epoch"] for h in r["history"]] == list(range(r["epochs"])) for r in records)
    assert any(r["stop_reason"] == "complete" for r in records)  # some configuration was continued


def test_the_matrix_shows_the_lowest_loss_recipe_of_each_cell(tmp_path):
    done = sweep(tmp_path, FakeLauncher(tmp_path), workers=1, budget=1.0)  # enough to finish all
    done.run()
    rows = config_rows(done)
    assert all(r["status"] == "trained" and r["epochs"] == 6 for r in rows)
    matrix = best_per_cell(done, rows, "val/loss")
    assert set(matrix.labels.ravel()) == {"optimizer.lr=0.01"} and matrix.direction == "min"
    assert matrix.winner == (2, 0) or matrix.winner == (2, 1)  # backbone c
    assert np.allclose(matrix.values[2], 1 / 6 + 1.0)
    summary = sweep_summary(done, rows)
    assert summary["winner"][0] == "c" and summary["winner"][2] == "optimizer.lr=0.01"
    assert summary["stop_reason"] == "every configuration ended" and 0 <= summary["idle_share"] <= 1


def test_a_failed_configuration_is_never_retried(tmp_path):
    launcher = FakeLauncher(tmp_path, broken="a")
    done = sweep(tmp_path, launcher, workers=2, budget=1.0)
    done.run()
    rows = config_rows(done)
    assert {r["status"] for r in rows if r["backbone"] == "a"} == {"failed"}
    tried = [job for batch in launcher.batches for job in batch if "backbone=a" in job]
    assert len(tried) == 4  # each of backbone a's 4 configurations once
    assert all(r["epochs"] == 6 for r in rows if r["backbone"] != "a")


def test_a_configuration_that_failed_is_never_the_winner(tmp_path):
    done = sweep(tmp_path, FakeLauncher(tmp_path, broken="c"), workers=1, budget=1.0)  # c: the best curves
    done.run()
    rows = config_rows(done)
    matrix = best_per_cell(done, rows, "val/loss")
    assert matrix.winner in ((1, 0), (1, 1))  # backbone b, the best that trained
    assert sweep_summary(done, rows)["winner"][0] == "b"


def test_a_sweep_where_every_configuration_failed_says_so_in_its_summary(tmp_path):
    grid = build_grid(parse_overrides(["backbone=a", "head=x,y", "optimizer.lr=0.1"]))  # a fails
    done = ConfigSweep(grid, FakeLauncher(tmp_path, broken="a"), max_epochs=6, fidelity="epochs",
                       stages=FidelityConfig(1, 3.0), budget=1.0, workers=1, lower_is_better=True,
                       seed=0)  # fmt: skip
    done.run()
    summary = sweep_summary(done, config_rows(done))
    assert summary["winner"] is None and summary["failed"] == 2
    assert summary_line(summary).startswith("No winner: no configuration finished an epoch (2 failed")


def test_a_budget_smaller_than_the_first_stage_trains_what_it_can_and_reports(tmp_path):
    grid = build_grid(parse_overrides(GRID))
    done = ConfigSweep(grid, FakeLauncher(tmp_path), max_epochs=6, fidelity="epochs",
                       stages=FidelityConfig(3, 2.0), budget=2, workers=2, lower_is_better=True,
                       seed=0)  # fmt: skip
    done.run()  # the first stage (3 epochs) is cut to the 2 the budget holds
    rows = config_rows(done)
    assert done.used == 2 and [r["epochs"] for r in rows if r["epochs"]] == [2]
    assert sweep_summary(done, rows)["winner_epochs"] == 2
    assert best_per_cell(done, rows, "val/loss").values.shape == (3, 2)


def test_a_resumed_sweep_continues_a_run_killed_inside_its_first_stage(tmp_path):
    grid = build_grid(parse_overrides(GRID))
    old = tmp_path / "old" / "0"
    (old / "checkpoints").mkdir(parents=True)
    torch.save({}, old / "checkpoints" / "last.ckpt")
    history = [{"epoch": 0, "val/loss": 1.0 + 3.5}]  # 1 of the first stage's 3 epochs
    write_record(old, {"status": "interrupted", "monitor": "val/loss", "run_dir": str(old), "epochs": 1,
                       "history": history, "stop_reason": "paused", "config_hash": "h0"})  # fmt: skip
    done = ConfigSweep(grid, FakeLauncher(tmp_path), max_epochs=6, fidelity="epochs",
                       stages=FidelityConfig(3, 2.0), budget=1.0, workers=2, lower_is_better=True,
                       seed=0)  # fmt: skip
    assert done.seed_with([tmp_path / "old"], {"h0": done.configs[0]}) == 1
    done.run()
    rows = config_rows(done)
    assert rows[0]["epochs"] == 6 and rows[0]["run_dir"] == str(old)  # continued in its own directory
    assert rows[0]["epochs_this_sweep"] == 5


def test_the_winner_is_the_best_value_seen_even_if_its_curve_got_worse_later(tmp_path):
    done = sweep(tmp_path, FakeLauncher(tmp_path), workers=1, budget=1.0)  # lower is better
    done.progress[0].values = [0.5, 3.0]  # best loss 0.5, then it diverged
    done.progress[1].values = [1.0, 1.0]
    assert done.winner() == 0 and done.progress[0].best(done.sign) == 0.5
