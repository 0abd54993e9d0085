"""train.py's early checks: every Hydra override form reaches Hydra; the head's task picks the dataset."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cvzoo.errors import EXIT_BAD_INPUT
from cvzoo.tasks import TASKS
from cvzoo.training.precheck import fail_early
from cvzoo.training.task_defaults import heads_by_task
from tests.conftest import CONFIG_DIR, FAST, REPO

# FAST without its backbone, for the forms that sweep the backbone themselves.
TINY = tuple(arg for arg in FAST if not arg.startswith("backbone="))


def refused(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """The one error line fail_early prints for ``argv`` (it must exit with EXIT_BAD_INPUT)."""
    with pytest.raises(SystemExit) as exit_info:
        fail_early(argv, CONFIG_DIR)
    assert exit_info.value.code == EXIT_BAD_INPUT
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "experiment=glob(*)", "++trainer.fast_dev_run=true"],
        ["-m", "backbone=glob(test_*)"],
        ["-m", "experiment=glob(*,exclude=cifar*)"],
        ["-m", "seed=range(0,3)"],
        ["-m", "optimizer.lr=choice(0.1,0.01)"],
        ["-m", "hydra/sweeper=guided", "backbone=test_resnet,test_vit", "head=linear,mlp"],
        ["+tags=[a,b]", "++trainer.fast_dev_run=true", "~callbacks", "ckpt_path=null"],
        ["backbone='test_resnet'", "head=linear"],
        ["trainer.devices=auto", "trainer.deterministic=warn", "optimizer.lr=1e-3"],
    ],
)
def test_every_hydra_form_passes_the_early_checks(argv: list[str], tmp_path: Path) -> None:
    argv = [*argv, f"paths.log_dir={tmp_path}"]
    assert fail_early(argv, CONFIG_DIR) == argv


def test_heads_without_a_dataset_train_on_their_tasks_default(tmp_path: Path) -> None:
    argv = ["-m", "backbone=resnet18,vit", "head=fpn,unet", f"paths.log_dir={tmp_path}"]
    assert fail_early(argv, CONFIG_DIR) == [*argv, f"dataset={TASKS['segmentation'].default_dataset}"]
    assert fail_early(["head=mlp", f"paths.log_dir={tmp_path}"], CONFIG_DIR)[-1] != "dataset=shapes"


def test_the_default_dataset_goes_next_to_the_other_overrides(tmp_path: Path) -> None:
    argv = ["head=unet", f"paths.log_dir={tmp_path}", "--cfg", "job"]
    assert fail_early(argv, CONFIG_DIR) == [
        "head=unet",
        f"paths.log_dir={tmp_path}",
        "dataset=shapes",
        "--cfg",
        "job",
    ]


def test_an_experiment_keeps_its_own_dataset(tmp_path: Path) -> None:
    argv = ["experiment=shapes_unet", f"paths.log_dir={tmp_path}"]
    assert fail_early(argv, CONFIG_DIR) == argv


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["head=fpn", "dataset=digits"], "dataset=shapes"),
        (["head=fpn", "dataset=digits"], "head=linear|mlp"),
        (["-m", "head=linear,fpn"], "head=linear,fpn"),
        (["-m", "head=unet", "dataset=digits,shapes"], "dataset=digits"),
        (["-m", "backbone=glob(nomatch*)"], "glob(nomatch*)"),
        (["-m", "optimizer.lr=interval(0.001,0.1)"], "interval"),
        (["-m", "hydra/sweeper=guided", "optimizer.lr=interval(0.001,0.1)"], "guided sweeper"),
        (["head=linear,mlp"], "add -m"),
        (["-m", "--cfg", "job"], "-m and --cfg"),
        (["backbone=[test_resnet"], "cannot parse"),
        (["trainer.max_epochz=1"], "trainer.max_epochz"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs='abc' must be a number"),
        (["trainer.enable_progress_bar=yes"], "must be true or false"),
        (["-m", "experiment=glob(*,exclude=cifar*)", "dataset.num_images=40"], "experiment=smoke"),
    ],
)
def test_bad_command_lines_are_refused_with_one_line(
    argv: list[str], named: str, capsys: pytest.CaptureFixture
) -> None:
    assert named in refused(argv, capsys)


def test_an_unwritable_run_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert str(blocker) in refused([f"paths.log_dir={blocker}/logs"], capsys)


def test_every_task_has_heads_and_a_default_dataset_config() -> None:
    table = heads_by_task(CONFIG_DIR)
    for name, task in TASKS.items():
        assert table[name], name
        assert (CONFIG_DIR / "dataset" / f"{task.default_dataset}.yaml").is_file()


def test_help_lists_the_heads_of_each_task(run_train: Callable) -> None:
    result = run_train("--help", fast=False)
    assert result.returncode == 0, result.stderr
    assert "classification: head=linear|mlp (no dataset given: dataset=digits)" in result.stdout
    assert "segmentation: head=deeplabv3plus|fpn|unet (no dataset given: dataset=shapes)" in result.stdout


def records(root: Path) -> list[dict]:
    """Every result.json under ``root``."""
    return [json.loads(p.read_text()) for p in sorted(root.rglob("result.json"))]


@pytest.mark.slow
@pytest.mark.parametrize(
    "form",
    [
        ("backbone=glob(test_r*)",),
        ("experiment=glob(*,exclude=cifar*)", "backbone=test_resnet"),
        ("seed=range(0,2)", "backbone=test_resnet"),
        ("optimizer.lr=choice(0.01,0.001)", "backbone=test_resnet"),
        ("backbone=test_resnet", "+tags=[a,b]", "~callbacks", "ckpt_path=null"),
    ],
)
def test_each_form_runs_with_fast_dev_run(form: tuple[str, ...], run_train: Callable, tmp_path: Path) -> None:
    flags = ("-m",) if any("(" in arg for arg in form) else ()
    result = run_train(*flags, *TINY, *form, "++trainer.fast_dev_run=true", fast=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    found = records(tmp_path / "logs")
    assert found and all(r["status"] == "ok" for r in found)


@pytest.mark.slow
def test_a_mismatch_stops_before_any_job_dir(run_train: Callable, tmp_path: Path) -> None:
    for argv in (
        ["head=fpn", "dataset=digits"],
        ["-m", "head=fpn", "dataset=digits"],
        ["-m", "head=linear,fpn"],
    ):
        start = time.monotonic()
        result = run_train(*argv)
        assert result.returncode == EXIT_BAD_INPUT, result.stderr
        assert "a classification head" in result.stderr or "mixes" in result.stderr
        assert time.monotonic() - start < 60  # well under 15 s on an idle machine
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_the_headline_command_trains_four_segmentation_runs(run_train: Callable, tmp_path: Path) -> None:
    # python train.py -m backbone=resnet18,vit head=fpn,unet, on tiny settings and without downloads.
    tiny = ("backbone.pretrained=false", "dataset.image_size=32", "dataset.num_images=40", "logger=none")
    result = run_train(
        "-m", "backbone=resnet18,vit", "head=fpn,unet", *tiny, "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false", fast=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    found = records(tmp_path / "logs")
    assert sorted((r["backbone"], r["head"], r["dataset"], r["status"]) for r in found) == [
        (b, h, "shapes", "ok") for b in ("resnet18", "vit_small_patch16_224") for h in ("fpn", "unet")
    ]
    assert list((tmp_path / "logs").rglob("matrix.csv"))


def documented_commands() -> list[str]:
    """The ``python train.py`` lines of the bash blocks in docs/guides/override-syntax.md."""
    text = (REPO / "docs" / "guides" / "override-syntax.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("python train.py")]


@pytest.mark.slow
@pytest.mark.parametrize("command", documented_commands())
def test_the_documented_commands_run_as_written(command: str, tmp_path: Path) -> None:
    argv = shlex.split(command)
    env = {**os.environ, "CVZOO_ROOT": str(tmp_path), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *argv[2:]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    if "--cfg" not in argv:
        assert records(tmp_path / "logs") and all(r["status"] == "ok" for r in records(tmp_path / "logs"))
