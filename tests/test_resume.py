"""Resume and fault tolerance, piece by piece: where records are searched, damaged checkpoints,
writes killed halfway, the sweep lock, out-of-memory errors and continuing a run directory."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from cvzoo.results import load_record, write_record
from cvzoo.results.store import find_records
from cvzoo.sweeps.guided_grid import earlier_results
from cvzoo.sweeps.lock import SweepLock, SweepLocked
from cvzoo.sweeps.resume import find_previous, link_reused, record_dirs, resume_counts
from cvzoo.training.checkpoints import AtomicCheckpointIO, checkpoint_problem, usable_checkpoint
from cvzoo.training.continuation import NothingToContinue, continue_run
from cvzoo.training.oom import half_batch_config, is_out_of_memory, oom_message
from cvzoo.training.run import run_training
from tests.conftest import FAST

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def test_record_dirs_include_a_sweep_dir_outside_the_log_dir(tmp_path):
    scratch, logs, extra = tmp_path / "scratch" / "sw", tmp_path / "logs", tmp_path / "old"
    for folder in (scratch, logs / "train" / "multiruns", extra):
        folder.mkdir(parents=True)
    dirs = record_dirs(scratch, logs, [str(extra), str(tmp_path / "missing")])
    assert dirs == [scratch.resolve(), logs.resolve(), extra.resolve()]
    inside = logs / "train" / "multiruns"  # a sweep dir under logs/ is searched once, as part of logs/
    assert record_dirs(inside, logs) == [logs.resolve()]


def test_find_previous_and_resume_counts(tmp_path):
    sweep = tmp_path / "sw"
    write_record(sweep / "0", {"status": "ok", "config_hash": "a", "run_dir": str(sweep / "0")})
    write_record(sweep / "1", {"status": "interrupted", "config_hash": "b", "run_dir": str(sweep / "1")})
    done, unfinished = find_previous([sweep], "a")
    assert done["run_dir"] == str(sweep / "0") and unfinished == []
    assert find_previous([sweep], "b")[0] is None
    link_reused(sweep / "0", done)  # the resumed job 0 reuses its own record
    write_record(sweep / "1", {"status": "ok", "config_hash": "b", "resumed_from": "x/last.ckpt"})
    write_record(sweep / "2", {"status": "ok", "config_hash": "c"})
    counts = resume_counts(sweep, find_records([sweep]))
    assert counts == {"reused": 1, "continued": 1, "trained": 1}


def test_guided_sweeper_reads_earlier_records_from_the_resume_search(tmp_path):
    sweep = tmp_path / "scratch"
    record = {"status": "ok", "config_hash": "h1", "monitor": "val/acc", "best_val": {"val/acc": 0.7}}
    write_record(sweep / "3", record)
    dirs = record_dirs(sweep, tmp_path / "logs")
    observed, found = earlier_results(dirs, {"h1": (0, 1)}, (2, 2))
    assert observed[0, 1] == 0.7 and np.isnan(observed[0, 0]) and list(found) == [(0, 1)]


def _save_checkpoint(path: Path, step: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "weights": torch.zeros(1000)}, path)


def test_truncated_last_checkpoint_is_detected_and_best_is_used(tmp_path):
    last, best = tmp_path / "checkpoints" / "last.ckpt", tmp_path / "checkpoints" / "best.ckpt"
    _save_checkpoint(last, 2)
    _save_checkpoint(best, 1)
    assert checkpoint_problem(last) is None
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    assert "unreadable" in checkpoint_problem(last)
    path, notes = usable_checkpoint(tmp_path)
    assert path == str(best) and "last.ckpt is damaged" in notes[0]
    best.write_bytes(b"")
    assert usable_checkpoint(tmp_path) == (None, [*notes, f"{best} is damaged (empty file), not used"])


def _killed_halfway(code: str, fault: str) -> subprocess.CompletedProcess:
    env = {**ENV, "CVZOO_FAULT": fault}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_record_write_killed_halfway_leaves_the_previous_record_whole(tmp_path):
    code = (
        "from cvzoo.results import write_record\n"
        f"write_record({str(tmp_path)!r}, {{'status': 'running'}})\n"
        f"write_record({str(tmp_path)!r}, {{'status': 'ok', 'pad': 'x' * 100000}})\n"
    )
    result = _killed_halfway(code, "record_write=2")
    assert result.returncode == -9
    assert load_record(tmp_path)["status"] == "running"  # the old record, whole
    assert len(find_records([tmp_path])) == 1  # the half-written temp file is no record


def test_checkpoint_write_killed_halfway_leaves_the_previous_checkpoint_whole(tmp_path):
    target = tmp_path / "checkpoints" / "last.ckpt"
    code = (
        "import torch\nfrom cvzoo.training.checkpoints import AtomicCheckpointIO\n"
        f"io = AtomicCheckpointIO()\nio.save_checkpoint({{'step': 1}}, {str(target)!r})\n"
        f"io.save_checkpoint({{'step': 2, 'w': torch.zeros(100000)}}, {str(target)!r})\n"
    )
    result = _killed_halfway(code, "ckpt_write=2")
    assert result.returncode == -9
    assert checkpoint_problem(target) is None
    assert torch.load(target, weights_only=False)["step"] == 1
    (stale,) = target.parent.glob(".last.ckpt.*.tmp")  # the half-written temp file
    AtomicCheckpointIO().save_checkpoint({"step": 3}, target)
    assert not stale.exists() and torch.load(target, weights_only=False)["step"] == 3


def test_a_second_sweep_into_a_locked_dir_is_refused(tmp_path):
    first, second = SweepLock(tmp_path), SweepLock(tmp_path)
    first.acquire()
    with pytest.raises(SweepLocked, match=f"another sweep \\(pid {os.getpid()}\\) is running into"):
        second.acquire()
    first.release()
    second.acquire()  # free again once the first sweep ended
    second.release()


def _write_many(folder: str, worker: int) -> None:
    for index in range(25):
        run_dir = Path(folder) / f"{worker}-{index}"
        write_record(run_dir, {"status": "ok", "worker": worker, "index": index, "run_dir": str(run_dir)})


def test_eight_concurrent_writers_lose_no_record(tmp_path):
    context = multiprocessing.get_context("fork")  # cheap on Linux; the writers share nothing
    workers = [context.Process(target=_write_many, args=(str(tmp_path), w)) for w in range(8)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [p.exitcode for p in workers] == [0] * 8
    assert len(find_records([tmp_path], on_warning=pytest.fail)) == 8 * 25


def test_out_of_memory_errors_are_recognized_and_halved(compose_cfg):
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 8 GB"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    cfg = compose_cfg("dataset.batch_size=64", "optimizer.lr=0.002")
    half, note = half_batch_config(cfg)
    assert (half.dataset.batch_size, half.optimizer.lr) == (32, 0.001) and cfg.dataset.batch_size == 64
    assert note == {"from_batch_size": 64, "batch_size": 32, "from_lr": 0.002, "lr": 0.001}
    assert oom_message(cfg, retried=False).startswith("out of memory at batch size 64")


def test_injected_out_of_memory_gives_a_failed_record_and_the_retry_halves_the_batch(
    compose_cfg, monkeypatch
):
    monkeypatch.setenv("CVZOO_FAULT", "oom_above=16")
    with pytest.raises(torch.OutOfMemoryError) as failed:
        run_training(compose_cfg(*FAST, "dataset.batch_size=32"))
    assert failed.value.record["status"] == "failed"
    assert failed.value.record["error"].startswith("out of memory at batch size 32")
    record = run_training(compose_cfg(*FAST, "dataset.batch_size=32", "trainer.oom_retry=true"))
    assert record["status"] == "ok"
    assert record["oom_retry"] == {"from_batch_size": 32, "batch_size": 16, "from_lr": 1e-3, "lr": 5e-4}


def test_continue_run_trains_only_the_new_epochs(compose_cfg, tmp_path):
    first = run_training(compose_cfg(*FAST, "scheduler=onecycle"))
    assert [h["epoch"] for h in first["history"]] == [0]
    longer = continue_run(first["run_dir"], max_epochs=2, output_dir=tmp_path / "longer")
    assert longer["status"] == "ok" and longer["epochs"] == 2
    assert [h["epoch"] for h in longer["history"]] == [0, 1]
    assert longer["history"][0] == first["history"][0]  # epoch 0 is the first run's, not retrained
    assert longer["resumed_from"] == first["last_checkpoint"]
    assert longer["config"]["trainer"]["max_epochs"] == 2
    assert load_record(first["run_dir"])["epochs"] == 1  # the first run stays as it was
    with pytest.raises(NothingToContinue, match=r"no readable result\.json"):
        continue_run(tmp_path / "nowhere")


def test_resume_from_is_a_path_key_not_part_of_the_cell(compose_cfg):
    from cvzoo.results import config_hash

    plain = OmegaConf.to_container(compose_cfg(*FAST), resolve=True)
    other = OmegaConf.to_container(compose_cfg(*FAST, "resume_from=/old/sweeps"), resolve=True)
    assert config_hash(plain) == config_hash(other)
