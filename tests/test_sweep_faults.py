"""What a sweep survives, tried as a cluster does it: kill -9 and preemption signals at chosen
steps, out of memory, eight parallel writers, and a second sweep into the same directory.

Every sweep here lives outside ``paths.log_dir`` (a scratch disk), so resuming it relies on the
search of the sweep directory itself. Faults are injected with ``CVZOO_FAULT`` (see
``cvzoo.faults``): the process signals itself at a global step, a validation batch, or halfway
through writing a record or checkpoint, never after a sleep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cvzoo.sweeps.lock import SweepLock
from tests.conftest import FAST, REPO

# Two epochs of two training and two validation batches per cell.
TINY = (*FAST, "trainer.max_epochs=2", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=2")


def sweep(tmp_path: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    """``train.py -m`` into ``tmp_path/scratch/sw`` (logs elsewhere), optionally with a fault."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("CVZOO_FAULT", None)
    if fault:
        env["CVZOO_FAULT"] = fault
    argv = [
        sys.executable, str(REPO / "train.py"), "-m", *TINY, f"hydra.sweep.dir={tmp_path / 'scratch' / 'sw'}",
        f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}", *args,
    ]  # fmt: skip
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


def records(tmp_path: Path) -> list[dict]:
    """Every record in the sweep directory."""
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "scratch" / "sw").rglob("result.json"))]


def epochs(record: dict) -> list[int]:
    """The epochs a record's history lists."""
    return [row["epoch"] for row in record["history"]]


@pytest.mark.slow
def test_resume_into_a_sweep_dir_outside_logs_changes_nothing(tmp_path):
    first = sweep(tmp_path, "head=linear,mlp", "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr[-2000:]
    files = sorted((tmp_path / "scratch" / "sw").rglob("result.json"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    again = sweep(tmp_path, "head=linear,mlp", "trainer.max_epochs=1", "+resume=true")
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted((tmp_path / "scratch" / "sw").rglob("result.json")) == files
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert "cells: 2 reused, 0 continued, 0 trained" in again.stdout


# fault -> exit status of the stopped run, status its record is left with
KILLS = {
    "train_step=3": (-9, "running"),  # in epoch 1's first training batch
    "val_batch=3": (-9, "running"),  # in epoch 1's validation
    "ckpt_write=3": (-9, "running"),  # halfway through epoch 1's first checkpoint
    "record_write=2": (-9, "running"),  # halfway through the final record
    "train_step=3:TERM": (128 + 15, "interrupted"),  # preemption in a training batch
    "val_batch=3:USR1": (128 + 10, "interrupted"),  # SLURM's warning signal in validation
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(KILLS))
def test_a_stopped_cell_continues_with_each_epoch_once(tmp_path, fault):
    rc, status = KILLS[fault]
    stopped = sweep(tmp_path, "head=linear", fault=fault)
    assert stopped.returncode == rc, stopped.stderr[-2000:]
    (left,) = records(tmp_path)
    assert left["status"] == status
    if status == "interrupted":
        stage = "training" if fault.startswith("train") else "validation"
        assert left["error"].startswith(f"interrupted by SIG{fault.split(':')[1]} during {stage}")
    damaged = fault == "train_step=3"
    if damaged:  # a truncated last.ckpt (as a non-atomic writer leaves it) is passed over
        last = tmp_path / "scratch" / "sw" / "0" / "checkpoints" / "last.ckpt"
        last.write_bytes(last.read_bytes()[:1000])

    resumed = sweep(tmp_path, "head=linear", "+resume=true")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (record,) = records(tmp_path)
    assert record["status"] == "ok" and epochs(record) == [0, 1] and record["epochs"] == 2
    expected = "best.ckpt" if damaged else "last.ckpt"
    assert Path(record["resumed_from"]).name == expected
    assert "cells: 0 reused, 1 continued, 0 trained" in resumed.stdout
    if damaged:
        assert "last.ckpt is damaged" in resumed.stderr + resumed.stdout


@pytest.mark.slow
def test_out_of_memory_fails_one_job_the_sweep_goes_on_and_the_retry_halves(tmp_path):
    result = sweep(tmp_path, "dataset.batch_size=32", "trainer.oom_retry=false,true", fault="oom_above=16")
    assert result.returncode == 1  # one failed job
    by_retry = {r["config"]["trainer"]["oom_retry"]: r for r in records(tmp_path)}
    assert by_retry[False]["status"] == "failed"
    assert by_retry[False]["error"].startswith("out of memory at batch size 32")
    assert by_retry[True]["status"] == "ok"
    assert by_retry[True]["oom_retry"]["batch_size"] == 16


@pytest.mark.slow
def test_eight_parallel_jobs_lose_nothing_and_one_process_writes_the_matrix(tmp_path):
    cells = ("head=linear,mlp", "seed=1,2,3,4", "trainer.max_epochs=1")
    result = sweep(tmp_path, *cells, "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=8")
    assert result.returncode == 0, result.stderr[-2000:]
    got = records(tmp_path)
    assert sorted((r["head"], r["seed"]) for r in got) == [
        (h, s) for h in ("linear", "mlp") for s in (1, 2, 3, 4)
    ]
    assert {r["status"] for r in got} == {"ok"}
    assert result.stdout.count("matrix: ") == 1
    assert (tmp_path / "scratch" / "sw" / "matrix.csv").stat().st_size > 0


def test_a_second_sweep_into_a_running_sweeps_dir_is_refused(tmp_path):
    running = SweepLock(tmp_path / "scratch" / "sw")
    running.acquire()
    try:
        refused = sweep(tmp_path, "head=linear")
    finally:
        running.release()
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith(f"error: another sweep (pid {os.getpid()})")
    assert "Traceback" not in refused.stderr and records(tmp_path) == []


@pytest.mark.slow
def test_submitit_requeues_a_preempted_job_and_it_continues(tmp_path):
    # USR2 is submitit's preemption signal: cvzoo saves last.ckpt and the interrupted record, then
    # submitit's handler requeues the job, which continues from the checkpoint, in one command.
    result = sweep(
        tmp_path, "head=linear", "hydra/launcher=slurm_local", "+resume=true", fault="train_step=3:USR2"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = records(tmp_path)
    assert record["status"] == "ok" and epochs(record) == [0, 1]
    assert Path(record["resumed_from"]).name == "last.ckpt"
    logs = "".join(p.read_text() for p in (tmp_path / "scratch" / "sw" / ".submitit").rglob("*_log.*"))
    assert "interrupted by SIGUSR2 during training" in logs and "Requeued job" in logs
