"""Detection runs under bf16 autocast, 2-process DDP, the local_parallel launcher and the guided sweep."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from cvzoo.models import build_model
from cvzoo.models.heads.detection import PRIOR

TINY_DET = (
    "dataset=shapes_det",
    "dataset.num_images=400",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=2",
)


def records(folder: Path) -> list[dict]:
    """Every record under one folder tree."""
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("result.json"))]


def assert_sane_map(record: dict) -> None:
    """An ok detection record whose mAP values are finite and in [0, 1]."""
    assert record["status"] == "ok" and record["task"] == "detection"
    for key in ("test/mAP", "test/mAP50"):
        assert math.isfinite(record["test"][key]) and 0.0 <= record["test"][key] <= 1.0
    assert 0.0 <= record["best_val"]["val/mAP"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("head", ["fcos", "retinanet"])
def test_detection_trains_under_bf16_autocast(run_train, tmp_path, head):
    result = run_train(f"head={head}", *TINY_DET, "trainer.precision=bf16-mixed")
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = records(tmp_path / "logs")
    assert record["config"]["trainer"]["precision"] == "bf16-mixed"
    assert_sane_map(record)
    assert math.isfinite(record["history"][-1]["train/loss"])


@pytest.mark.slow
def test_detection_ddp_on_two_cpu_processes_writes_one_record_with_synced_map(run_train, tmp_path):
    ddp = ("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
    result = run_train("head=fcos", *TINY_DET, *ddp)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("run finished:") == 1  # rank 0 only
    (record,) = records(tmp_path / "logs")
    assert record["world_size"] == 2
    assert_sane_map(record)
    assert len(record["per_class"]["test/ap"]) == 3


@pytest.mark.slow
def test_local_parallel_launcher_runs_two_detection_cells(run_train, tmp_path):
    launcher = ("hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2")
    result = run_train("-m", "head=fcos,retinanet", *TINY_DET, *launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    got = records(tmp_path / "logs" / "train" / "multiruns")
    assert sorted(r["head"] for r in got) == ["fcos", "retinanet"]
    for record in got:
        assert_sane_map(record)


@pytest.mark.slow
def test_guided_sweep_over_detection_heads_and_backbones_leaves_a_map_matrix(run_train, tmp_path):
    grid = ("-m", "hydra/sweeper=guided", "head=fcos,retinanet", "backbone=test_resnet,test_vit")
    result = run_train(*grid, *TINY_DET, "hydra.sweeper.budget=3", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (summary_path,) = (tmp_path / "logs" / "train" / "multiruns").glob("*/guided.json")
    sweep = summary_path.parent
    summary = json.loads(summary_path.read_text())
    assert summary["metric"] == "val/mAP" and summary["spent"] == 3
    assert [c["status"] for c in summary["cells"]].count("trained") == 3
    for record in records(sweep):
        assert_sane_map(record)
    matrix = pd.read_csv(sweep / "matrix.csv", index_col=0, dtype=str)
    assert matrix.shape == (2, 2)
    values = [float(str(v).lstrip("~")) for v in matrix.to_numpy().ravel()]
    assert all(0.0 <= v <= 1.0 for v in values)  # mAP, trained or predicted


@pytest.mark.parametrize("head", ["fcos", "retinanet"])
def test_boxes_are_decoded_in_float32_under_bf16_autocast(compose_cfg, head):
    # bf16 keeps 8 bits of mantissa: a prior at x=300 would be rounded to a multiple of 2 pixels
    cfg = compose_cfg("backbone=test_resnet", f"head={head}", "dataset=shapes_det")
    spec = OmegaConf.to_container(cfg, resolve=True)
    model, _ = build_model(spec["backbone"], spec["head"], 3, spec["dataset"]["mean"], spec["dataset"]["std"])
    model.eval()
    images = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        exact = model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(images)
    assert mixed.dtype == torch.float32
    assert torch.equal(mixed[..., PRIOR], exact[..., PRIOR])
