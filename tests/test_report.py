"""The comparison report: ranked table, failures, plots, varied hyperparameters, CLI, real sweep."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from cvzoo.cli import main
from cvzoo.errors import ConfigError, DataError
from cvzoo.results import write_record
from cvzoo.results.report import augmentation_label, varied_keys, write_report

CLASSES = ["cat", "dog", "bird"]
SEG_CLASSES = ["background", "circle", "square"]


def make_record(
    run_dir: Path,
    backbone: str = "test_resnet",
    head: str = "linear",
    score: float = 0.8,
    status: str = "ok",
    optimizer: str = "adamw",
    lr: float = 1e-3,
    task: str = "classification",
    augmentation: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A record shaped like the ones ``train.py`` writes (one per run directory)."""
    short = "mIoU" if task == "segmentation" else "acc"
    names = SEG_CLASSES if task == "segmentation" else CLASSES
    history = [{"epoch": e, "step": 10 * (e + 1), "train/loss": 1.5 - 0.3 * e, "val/loss": 1.6 - 0.2 * e,
                f"val/{short}": score - 0.1 * (2 - e), "lr": lr} for e in range(3)]  # fmt: skip
    record: dict[str, Any] = {
        "status": status, "error": None, "run_dir": str(run_dir), "task": task,
        "backbone": backbone, "head": head, "dataset": "shapes", "seed": 0, "epochs": 3,
        "augmentation": sorted(augmentation), "optimizer": optimizer, "scheduler": "cosine",
        "monitor": f"val/{short}", "monitor_mode": "max",
        "config": {
            "backbone": {"name": backbone, "pretrained": False},
            "head": {"name": head},
            "optimizer": {"name": optimizer, "lr": lr, **({"momentum": 0.9} if optimizer == "sgd" else {})},
            "augmentation": {name: {"p": 0.5} for name in augmentation},
            "dataset": {"name": "shapes", "root": f"{run_dir}/data"},
            "paths": {"output_dir": str(run_dir)},
            "seed": 0,
        },
        "params": 120_000, "flops_per_image": 3.2e7, "train_time_s": 12.5, "train_images_per_s": 310.0,
        "history": history, "class_names": names,
    }  # fmt: skip
    if status != "ok":
        record.update(error="RuntimeError: CUDA out of memory\ntraceback follows", history=history[:1])
        return record
    record["best_val"] = {f"val/{short}": score, "val/loss": 1.2}
    if task == "segmentation":
        record["test"] = {"test/mIoU": score - 0.02, "test/dice": score + 0.05, "test/pixel_acc": 0.95}
        record["per_class"] = {"names": names, "test/iou": [0.97, score, None]}
    else:
        record["test"] = {
            "test/acc": score - 0.01,
            "test/precision": 0.7,
            "test/recall": 0.6,
            "test/f1": 0.65,
        }
        record["confusion_matrix"] = [[8, 1, 1], [2, 7, 1], [0, 3, 7]]
    return record


def write_sweep(root: Path, records: list[dict]) -> Path:
    """Write each record into ``root/<job number>/result.json`` like a multirun."""
    for record in records:
        write_record(record["run_dir"], record)
    return root


def md_section(text: str, title: str) -> list[str]:
    """Table rows (``| ...``, header and rule dropped) of the section called ``title``."""
    part = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in part.splitlines() if line.startswith("|")][2:]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A 2x2 backbone x head sweep plus one failed job."""
    root = tmp_path / "multiruns" / "2024-05-01_12-00-00"
    cells = [("test_resnet", "linear", 0.71), ("test_resnet", "mlp", 0.83),
             ("test_convnext", "linear", 0.64), ("test_convnext", "mlp", 0.77)]  # fmt: skip
    records = [make_record(root / str(i), b, h, s) for i, (b, h, s) in enumerate(cells)]
    records.append(make_record(root / "4", "test_vit", "mlp", status="failed"))
    return write_sweep(root, records)


def test_a_killed_run_is_listed_as_unfinished(tmp_path):
    root = tmp_path / "sweep"
    killed = make_record(root / "1", score=0.9)
    killed.update(status="running", best_val={}, test={})
    write_sweep(root, [make_record(root / "0", score=0.5), killed])
    text = write_report(root)["md"].read_text()
    assert "2 runs (1 ok, 1 failed or unfinished)" in text
    assert len(md_section(text, "Runs")) == 1
    assert (
        "| running | no result: the run was killed or is still running |"
        in md_section(text, "Failed runs")[0]
    )


def test_report_ranks_runs_lists_failures_and_writes_every_plot(sweep):
    paths = write_report(sweep)
    assert paths["md"] == sweep / "report.md" and paths["csv"] == sweep / "report.csv"
    expected = {"md", "csv", "curves", "hparams", *(f"confusion/{i}" for i in range(4))}
    assert set(paths) == expected
    for path in paths.values():
        assert path.parent == sweep and path.stat().st_size > 0
    with paths["csv"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    assert [r["run"] for r in rows] == ["1", "3", "0", "2", "4"]  # best val/acc first, failed last
    assert rows[0]["test/f1"] == "0.65" and rows[-1]["status"] == "failed"
    text = paths["md"].read_text()
    ranked = md_section(text, "Runs")
    assert len(ranked) == 4 and ranked[0].startswith("| 1 | `1` | test_resnet | mlp | none | adamw")
    assert "0.8300" in ranked[0] and "120.0k" in ranked[0]
    failed = md_section(text, "Failed runs")
    assert len(failed) == 1 and "RuntimeError: CUDA out of memory" in failed[0]
    assert "traceback follows" not in text
    for metric in ("acc", "precision", "recall", "f1", "params", "GFLOPs", "train time", "img/s"):
        assert f"- **{metric}**: " in text
    assert "![training and validation curves](curves.png)" in text and "(confusion_1.png)" in text


def test_segmentation_report_has_iou_bars_and_segmentation_metrics(tmp_path):
    root = tmp_path / "seg"
    write_sweep(root, [make_record(root / "a", score=0.6, task="segmentation", head="fpn"),
                       make_record(root / "b", score=0.7, task="segmentation", head="unet")])  # fmt: skip
    paths = write_report(root)
    assert {"per_class_iou/a", "per_class_iou/b"} <= set(paths)
    assert not any(key.startswith("confusion/") for key in paths)
    text = paths["md"].read_text()
    assert "| val/mIoU (best) | test/mIoU | test/dice | test/pixel_acc |" in text
    assert "- **mIoU**: " in text and "- **dice**: " in text and "- **pixel_acc**: " in text
    assert md_section(text, "Runs")[0].startswith("| 1 | `b` |")


def test_varied_keys_keep_real_hyperparameters_and_drop_what_follows_a_choice(tmp_path):
    sgd = make_record(tmp_path / "0", optimizer="sgd", lr=0.05)
    adamw = make_record(tmp_path / "1", optimizer="adamw", lr=1e-3)
    assert list(varied_keys([sgd, adamw])) == ["optimizer"]  # lr and momentum follow the optimizer
    small_lr = make_record(tmp_path / "2", optimizer="adamw", lr=1e-4)
    assert list(varied_keys([sgd, adamw, small_lr])) == ["optimizer", "optimizer.lr"]
    aug = make_record(tmp_path / "3", augmentation=("jpeg", "basic"))
    assert augmentation_label(aug) == "jpeg+basic"  # the order the blocks run in
    assert varied_keys([adamw, aug]) == {"augmentation": ["none", "jpeg+basic"]}


def test_report_from_records_needs_an_output_directory(tmp_path, sweep):
    with pytest.raises(ConfigError, match="out_dir"):
        write_report([make_record(tmp_path / "0")])
    paths = write_report(
        [make_record(tmp_path / "0"), make_record(tmp_path / "1", score=0.9)], tmp_path / "out"
    )
    assert paths["md"].parent == tmp_path / "out" and "hparams" not in paths  # nothing varied
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no result\.json"):
        write_report(empty)


def test_cvzoo_report_command_writes_into_out(sweep, tmp_path, capsys):
    assert main(["report", str(sweep), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").stat().st_size > 0
    assert "(5 runs, 4 ok)" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
def test_report_of_a_real_2x2_sweep(run_train, tmp_path):
    result = run_train(
        "-m", "backbone=test_resnet,test_convnext", "head=linear,mlp", "augmentation=[basic,jpeg]",
        "dataset.fraction=0.1", "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false", "logger=none", fast=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert main(["report", str(sweep)]) == 0
    with (sweep / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert {r["augmentation"] for r in rows} == {"basic+jpeg"}
    assert {(r["backbone"], r["head"]) for r in rows} == {
        (b, h) for b in ("test_resnet", "test_convnext") for h in ("linear", "mlp")
    }
    for name in ("report.md", "curves.png", "hparams.png", *(f"confusion_{i}.png" for i in range(4))):
        assert (sweep / name).stat().st_size > 0, name
    assert len(md_section((sweep / "report.md").read_text(), "Runs")) == 4


def test_cifar10_compare_is_one_command_for_the_whole_grid():
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    config_dir = Path(__file__).resolve().parents[1] / "configs"
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=cifar10_compare"], return_hydra_config=True)
        params = {str(k): str(v) for k, v in cfg.hydra.sweeper.params.items()}
        swept = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
        (jobs,) = BasicSweeper.split_arguments(swept, None)
        composed = [compose("train", overrides=["experiment=cifar10_compare", *job]) for job in jobs]
    assert len(jobs) == 20
    assert {c.backbone.name for c in composed} == {
        "resnet18", "efficientnet_b0", "mobilenetv3_large_100", "convnext_tiny", "vit_small_patch16_224"
    }  # fmt: skip
    assert {c.optimizer.name for c in composed} == {"sgd", "adamw"}
    assert {tuple(c.augmentation or ()) for c in composed} == {(), ("basic",)}
    assert {c.dataset.name for c in composed} == {"cifar10"} and cfg.task_name == "cifar10_compare"
    assert {c.monitor for c in composed} == {"val/acc"}
