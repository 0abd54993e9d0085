"""Data-parallel runs (trainer=ddp): 2 CPU processes over gloo, alone and inside a multirun."""

from __future__ import annotations

import json
import operator
from pathlib import Path
from types import SimpleNamespace

import pytest

from cvzoo.data.datamodule import CvzooDataModule
from cvzoo.training.distributed import ddp_world_size, start_processes

DDP = ("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "+trainer.limit_val_batches=2")


def records(folder: Path) -> list[dict]:
    """Every record under one folder tree."""
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("result.json"))]


def test_world_size_counts_processes_of_ddp_strategies_only():
    assert ddp_world_size({"strategy": "ddp", "devices": 4}) == 4
    assert ddp_world_size({"strategy": "ddp", "devices": [0, 2]}) == 2
    assert ddp_world_size({"strategy": "ddp", "devices": "0,1,2"}) == 3
    assert ddp_world_size({"strategy": "auto", "devices": 4}) == 1
    assert ddp_world_size({"strategy": "ddp", "devices": 4, "num_nodes": 2}) == 1


def test_a_last_training_batch_of_one_sample_is_dropped():
    module = CvzooDataModule(SimpleNamespace(train=list(range(130))), batch_size=64)
    assert not module._last_batch_is_single()  # 64 + 64 + 2
    module.trainer = SimpleNamespace(world_size=2)
    assert module._last_batch_is_single()  # 65 per process: 64 + 1, BatchNorm fails on the 1


@pytest.mark.slow
def test_ranks_start_inside_a_joblib_worker():
    from joblib import Parallel, delayed

    # loky makes "loky" the worker's default start method, which spawned children cannot find
    Parallel(n_jobs=2, backend="loky")(delayed(start_processes)(operator.add, (1,), 2) for _ in range(2))


@pytest.mark.slow
def test_ddp_run_on_two_cpu_processes_writes_one_record(run_train, tmp_path):
    result = run_train(*DDP)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("run finished:") == 1  # rank 0 only
    assert not (tmp_path / "logs" / "train" / "multiruns").exists()
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    (record,) = records(tmp_path / "logs")
    assert record["status"] == "ok" and record["world_size"] == 2
    assert record["run_dir"] == str(run_dir)
    assert "val/acc" in record["best_val"] and "test/acc" in record["test"]
    assert "train/loss" in record["history"][-1]  # averaged over both ranks
    # the test ran once on the whole split, not on padded per-rank shards
    test_images = sum(map(sum, record["confusion_matrix"]))
    assert test_images == 269  # digits test split at fraction 0.1
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert not list(run_dir.glob(".rank*.pkl"))


@pytest.mark.slow
def test_ddp_sweep_has_one_dir_and_record_per_job_and_survives_a_failing_job(run_train, tmp_path):
    # batch_size=0 fails inside the ranks (DataLoader), after they joined the process group
    result = run_train("-m", *DDP, "dataset.batch_size=0,64")
    assert result.returncode == 1, result.stderr[-3000:]  # exit status = number of failed jobs
    assert "sweep finished: 1 ok, 1 failed" in result.stdout
    assert not (tmp_path / "logs" / "train" / "runs").exists()
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()  # no sweep relaunched by a rank
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    got = records(sweep)
    assert {r["run_dir"] for r in got} == {str(sweep / "0"), str(sweep / "1")}
    by_batch = {r["config"]["dataset"]["batch_size"]: r for r in got}
    assert by_batch[64]["status"] == "ok" and by_batch[64]["world_size"] == 2
    assert by_batch[0]["status"] == "failed"
    assert "batch_size" in by_batch[0]["error"]
    assert "batch_size" in (sweep / "0" / "error.log").read_text()  # the failed rank's traceback
    assert (sweep / "matrix.csv").is_file()
    assert not list(sweep.rglob(".rank*.pkl"))
