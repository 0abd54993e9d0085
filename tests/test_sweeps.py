"""Sweeps: the matrix at the end of a multirun, failures that do not stop it, resume, parallel jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cvzoo.sweeps.axes import matrix_axes, swept_keys
from tests.conftest import FAST, REPO

SWEEP = ("-m", "backbone=test_resnet,test_vit", "head=linear,mlp")


def sweep_dirs(root: Path) -> list[Path]:
    """Sweep directories under root, oldest first."""
    return sorted((root / "logs" / "train" / "multiruns").iterdir())


def records(folder: Path) -> list[dict]:
    """Records directly produced in one folder tree."""
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("result.json"))]


def test_swept_keys_and_axes():
    keys = swept_keys(["backbone=a,b", "head=x,y", "trainer.max_epochs=1", "+resume=true"])
    assert keys == ["backbone", "head"]
    assert matrix_axes(["head", "backbone"]) == ("backbone", "head")
    assert matrix_axes(swept_keys(["backbone.name=a,b"])) == ("backbone", "head")
    assert matrix_axes(["optimizer", "dataset.fraction"]) == ("optimizer", "dataset.fraction")
    assert matrix_axes([]) is None


@pytest.mark.slow
def test_sweep_writes_matrix_and_resume_recomputes_nothing(run_train, tmp_path):
    result = run_train(*SWEEP)
    assert result.returncode == 0, result.stderr[-2000:]
    (sweep,) = sweep_dirs(tmp_path)
    first = records(sweep)
    assert len(first) == 4 and {r["status"] for r in first} == {"ok"}
    for name in ("matrix.csv", "matrix.md", "matrix.png"):
        assert (sweep / name).stat().st_size > 0
    matrix = pd.read_csv(sweep / "matrix.csv", index_col=0)
    assert matrix.shape == (2, 2) and set(matrix.columns) == {"linear", "mlp"}
    stamps = {p: p.stat().st_mtime_ns for p in sweep.rglob("result.json")}

    again = run_train(*SWEEP, "+resume=true")
    assert again.returncode == 0, again.stderr[-2000:]
    assert (again.stdout + again.stderr).count("job skipped (resume)") == 4
    _, resumed = sweep_dirs(tmp_path)
    assert records(resumed) == []  # nothing trained again
    assert {p: p.stat().st_mtime_ns for p in sweep.rglob("result.json")} == stamps
    assert pd.read_csv(resumed / "matrix.csv", index_col=0).shape == (2, 2)


@pytest.mark.slow
def test_failing_cell_is_recorded_and_the_sweep_goes_on(run_train, tmp_path):
    result = run_train("-m", "backbone.name=test_resnet,no_such_model_xyz")
    assert result.returncode == 1  # exit status = number of failed jobs
    assert "sweep finished: 1 ok, 1 failed" in result.stdout
    (sweep,) = sweep_dirs(tmp_path)
    by_backbone = {r["backbone"]: r for r in records(sweep)}
    assert by_backbone["test_resnet"]["status"] == "ok"
    assert by_backbone["no_such_model_xyz"]["status"] == "failed"
    assert "unknown timm backbone" in by_backbone["no_such_model_xyz"]["error"]
    assert "failed" in (sweep / "matrix.md").read_text()


@pytest.mark.slow
def test_local_parallel_launcher_gives_the_same_records(run_train, tmp_path):
    result = run_train(*SWEEP, "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2")
    assert result.returncode == 0, result.stderr[-2000:]
    (sweep,) = sweep_dirs(tmp_path)
    got = records(sweep)
    assert {(r["backbone"], r["head"], r["status"]) for r in got} == {
        (b, h, "ok") for b in ("test_resnet", "test_vit") for h in ("linear", "mlp")
    }
    assert (sweep / "matrix.csv").is_file()


@pytest.mark.slow
def test_slurm_local_launcher_runs_the_submitit_path(run_train, tmp_path):
    result = run_train("-m", "head=linear,mlp", "hydra/launcher=slurm_local", timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    (sweep,) = sweep_dirs(tmp_path)
    assert {r["status"] for r in records(sweep)} == {"ok"} and len(records(sweep)) == 2
    assert (sweep / ".submitit").is_dir()


@pytest.mark.slow
def test_sweep_with_default_paths_writes_under_the_working_directory(tmp_path):
    # No paths overrides: paths.root_dir falls back to ${hydra:runtime.cwd}, which the sweeper
    # must resolve for hydra.sweep.dir before any job has started.
    env = {k: v for k, v in os.environ.items() if k != "CVZOO_ROOT"}
    env |= {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, str(REPO / "train.py"), "-m", *FAST, "head=linear,mlp"]
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    (sweep,) = sweep_dirs(tmp_path)
    assert {r["status"] for r in records(sweep)} == {"ok"} and len(records(sweep)) == 2
    assert (sweep / "matrix.csv").stat().st_size > 0
