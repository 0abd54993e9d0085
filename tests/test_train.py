"""End-to-end training through train.py (subprocess) and run_training (in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cvzoo.errors import ConfigError, DataError
from cvzoo.results import load_record
from cvzoo.training import run_training

RECORD_FIELDS = {
    "schema_version",
    "status",
    "error",
    "config",
    "config_hash",
    "backbone",
    "head",
    "dataset",
    "fraction",
    "seed",
    "epochs",
    "best_val",
    "final_val",
    "test",
    "params",
    "flops_per_image",
    "train_time_s",
    "train_images_per_s",
    "device",
    "versions",
    "checkpoint",
    "pretrained_loaded",
    "history",
    "per_class",
    "confusion_matrix",
    "started_at",
    "finished_at",
    "monitor",
    "dataset_meta",
}


def records_under(root: Path) -> list[dict]:
    """Every result.json below root."""
    return [json.loads(p.read_text()) for p in sorted(root.rglob("result.json"))]


def test_train_py_writes_a_complete_record(run_train, tmp_path):
    result = run_train()
    assert result.returncode == 0, result.stderr[-2000:]
    assert "run finished:" in result.stdout and "test/acc=" in result.stdout
    (record,) = records_under(tmp_path / "logs" / "train" / "runs")
    assert set(record) >= RECORD_FIELDS
    assert record["status"] == "ok" and record["error"] is None
    assert record["backbone"] == "test_resnet" and record["head"] == "linear"
    assert 0.0 <= record["test"]["test/acc"] <= 1.0
    assert record["best_val"]["val/acc"] == max(h["val/acc"] for h in record["history"])
    assert record["params"] > 0 and record["flops_per_image"] > 0 and record["train_images_per_s"] > 0
    assert Path(record["checkpoint"]).is_file() and Path(record["last_checkpoint"]).is_file()
    assert len(record["confusion_matrix"]) == 10
    assert "curves" not in record  # only tasks that declare curve charts (detection) record curves


def test_resume_from_last_checkpoint(compose_cfg, tmp_path):
    from tests.conftest import FAST

    first = run_training(compose_cfg(*FAST))
    cfg = compose_cfg(*FAST, "trainer.max_epochs=2", f"ckpt_path={first['last_checkpoint']}")
    cfg.paths.output_dir = str(tmp_path / "resumed")
    resumed = run_training(cfg)
    assert resumed["status"] == "ok"
    assert [h["epoch"] for h in resumed["history"]] == [0, 1]  # epoch 0 once, from the checkpoint
    assert resumed["resumed_from"] == first["last_checkpoint"]
    assert resumed["epochs"] == 2


def test_nonfinite_loss_raises_diverged_with_record(compose_cfg, tmp_path, monkeypatch):
    from cvzoo.errors import DivergedError
    from tests.conftest import FAST

    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward", lambda self, x, y: x.sum() * float("inf"))
    with pytest.raises(DivergedError):
        run_training(compose_cfg(*FAST))
    record = load_record(tmp_path / "run")
    assert record["status"] == "diverged" and "loss became" in record["error"]


@pytest.mark.parametrize(
    "args,expected",
    [
        (["backbone=resnet1"], "unknown backbone 'resnet1'; did you mean: resnet18"),
        (["optimizer=adamx"], "unknown optimizer 'adamx'; did you mean: adam"),
        (["backbone.name=resnet1"], "unknown timm backbone 'resnet1'; did you mean: resnet18"),
        (
            ["dataset=folder", "dataset.root=/nonexistent"],
            "dataset.root=/nonexistent does not exist",
        ),
        (["dataset.fraction=1.5"], "dataset.fraction=1.5 is out of range"),
    ],
)
def test_bad_input_is_one_clear_line(run_train, args, expected):
    result = run_train(*args)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], result.stderr[-1500:]
    assert "Traceback" not in result.stderr


def test_folder_dataset_and_bad_image(compose_cfg, tmp_path):
    from PIL import Image

    root = tmp_path / "pets"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (20, 24), (i * 40, 10, 200 if name == "cat" else 0)).save(
                root / name / f"{i}.png"
            )
    from cvzoo.data import build_splits

    splits = build_splits(
        compose_cfg("dataset=folder", f"dataset.root={root}", "dataset.image_size=16").dataset
    )
    assert splits.class_names == ["cat", "dog"]
    assert splits.train[0][0].shape == (3, 16, 16)
    (root / "dog" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot decode image .*broken.jpg.*on_bad_image=skip"):
        build_splits(compose_cfg("dataset=folder", f"dataset.root={root}").dataset)
    skipped = build_splits(
        compose_cfg("dataset=folder", f"dataset.root={root}", "dataset.on_bad_image=skip").dataset
    )
    assert len(skipped.train) + len(skipped.val) + len(skipped.test) == 12
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        build_splits(compose_cfg("dataset=folder", f"dataset.root={tmp_path / 'empty'}").dataset)


def test_head_that_does_not_fit_the_task(compose_cfg):
    from cvzoo.models.heads import check_head_task

    cfg = compose_cfg()
    with pytest.raises(
        ConfigError, match="head=linear serves classification but the dataset is segmentation"
    ):
        check_head_task(cfg.head, "segmentation")


@pytest.mark.slow
def test_multirun_leaves_six_ok_records(run_train, tmp_path):
    result = run_train("-m", "backbone=test_resnet,test_vit,test_convnext", "head=linear,mlp", timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    records = records_under(tmp_path / "logs" / "train" / "multiruns")
    assert len(records) == 6 and {r["status"] for r in records} == {"ok"}
    assert {(r["backbone"], r["head"]) for r in records} == {
        (b, h) for b in ("test_resnet", "test_vit", "test_convnext") for h in ("linear", "mlp")
    }
