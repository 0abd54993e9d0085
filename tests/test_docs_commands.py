"""Every command in README.md and docs/ still works: Hydra commands compose, ``cvzoo`` commands
parse, ``make`` targets exist, and the quick start and the tour really run (on tiny settings)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_check import (
    NOT_RUNNABLE_HERE,
    REPO,
    DocCommand,
    ParseError,
    check,
    check_entry_script,
    collect,
    documented_pages,
    make_recipe,
    with_tiny_settings,
)

COMMANDS = [c for page in documented_pages() for c in collect(page)]


@pytest.mark.parametrize("command", COMMANDS, ids=[c.where for c in COMMANDS])
def test_documented_command_is_valid(command: DocCommand) -> None:
    if command.skip_reason:
        pytest.skip(f"{command.where} not checked: {command.skip_reason}")
    try:
        check(command)
    except Exception as err:  # noqa: BLE001 - Hydra, OmegaConf and argparse raise many types
        pytest.fail(f"{command.where}: `{command.text}` fails: {str(err).splitlines()[0]}")


def test_the_readme_documents_commands_and_a_run_block() -> None:
    readme = [c for c in COMMANDS if c.path.name == "README.md"]
    assert len(readme) >= 10
    assert any(c.run for c in readme), "the quick start / tour block is marked <!-- docs-check: run -->"


# --- the checker itself: it must fail when the docs and the code disagree -----------------------------


def _page(tmp_path: Path, body: str) -> list[DocCommand]:
    page = tmp_path / "page.md"
    page.write_text(body)
    return collect(page)


def test_collect_reads_bash_blocks_joins_continuations_and_ignores_output(tmp_path: Path) -> None:
    found = _page(
        tmp_path,
        "intro `python train.py inline` is prose\n"
        "```bash\n"
        "python train.py backbone=vit \\\n    head=mlp   # a comment\n"
        "HF_HUB_OFFLINE=1 cvzoo results --format csv > runs.csv\n"
        "pip install something\n"
        "python export.py ckpt=x format=tensorrt   # not checked: needs TensorRT\n"
        "```\n"
        "```text\ncvzoo matrix: this is output, not a command\n```\n"
        "<!-- docs-check: run -->\n"
        "```bash\nmake demo\nmake test   # not run: the suite itself\n```\n",
    )
    assert [c.argv for c in found] == [
        ("python", "train.py", "backbone=vit", "head=mlp"),
        ("cvzoo", "results", "--format", "csv"),
        ("python", "export.py", "ckpt=x", "format=tensorrt"),
        ("make", "demo"),
        ("make", "test"),
    ]
    assert found[0].line == 3 and not found[0].run
    assert found[2].skip_reason == "needs TensorRT"
    assert found[3].run and found[4].no_run_reason == "the suite itself"


def test_a_renamed_cvzoo_flag_fails_the_check(tmp_path: Path) -> None:
    (documented,) = _page(tmp_path, "```bash\ncvzoo matrix logs --rows backbone --cols head\n```\n")
    check(documented)  # the real parser accepts it

    def renamed_parser() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="cvzoo")
        matrix = parser.add_subparsers(dest="command").add_parser("matrix")
        matrix.add_argument("dirs", nargs="*")
        matrix.add_argument("--row-key")
        matrix.add_argument("--cols")
        return parser

    with pytest.raises(ParseError, match="unrecognized arguments: --rows"):
        check(documented, build_parser=renamed_parser)
    (typo,) = _page(tmp_path, "```bash\ncvzoo matrix logs --rowz backbone\n```\n")
    with pytest.raises(ParseError):
        check(typo)


def test_a_renamed_config_key_fails_the_check(tmp_path: Path) -> None:
    argv = ("python", "train.py", "trainer.max_epochs=3", "optimizer.lr=0.01")
    check_entry_script(argv)
    configs = tmp_path / "configs"
    shutil.copytree(REPO / "configs", configs)
    trainer = configs / "trainer" / "default.yaml"
    trainer.write_text(trainer.read_text().replace("max_epochs:", "epochs:"))
    with pytest.raises(Exception, match="max_epochs"):
        check_entry_script(argv, config_dir=configs)


def test_every_point_of_a_documented_sweep_is_composed() -> None:
    check_entry_script(("python", "train.py", "-m", "backbone=resnet18,vit", "head=fpn,unet"))
    with pytest.raises(Exception, match="vitt"):
        check_entry_script(("python", "train.py", "-m", "backbone=resnet18,vitt"))
    check_entry_script(("python", "export.py", "from=logs/train/multiruns", "pick=test_vit,unet"))
    with pytest.raises(Exception, match="fp_16"):
        check_entry_script(("python", "export.py", "ckpt=x", "fp_16=true"))


def test_a_missing_make_target_fails_the_check(tmp_path: Path) -> None:
    (ok, bad) = _page(tmp_path, "```bash\nmake test PYTEST_PARALLEL=\nmake tests\n```\n")
    check(ok)
    with pytest.raises(ParseError, match="'tests'"):
        check(bad)


def test_tiny_settings_never_override_what_the_command_sets() -> None:
    argv = with_tiny_settings(("python", "train.py", "trainer.max_epochs=3"))
    assert "trainer.max_epochs=3" in argv and "trainer.max_epochs=1" not in argv
    assert "dataset.image_size=32" in argv


# --- the quick start and the tour, run for real --------------------------------------------------------


def _runnable(command: DocCommand) -> list[str] | str:
    """The argv that runs a documented command here, or why it cannot run inside the suite."""
    if command.no_run_reason:
        return command.no_run_reason
    if command.text in NOT_RUNNABLE_HERE:
        return NOT_RUNNABLE_HERE[command.text]
    if command.argv[0] == "python":
        return [sys.executable, str(REPO / command.argv[1]), *with_tiny_settings(command.argv)[2:]]
    if command.argv[0] == "cvzoo":
        return [sys.executable, "-m", "cvzoo", *command.argv[1:]]
    recipe = make_recipe(command.argv[1]) or []
    if len(recipe) == 1 and recipe[0].startswith("$(BIN)/python "):
        words = recipe[0].split()[1:]
        return _runnable(DocCommand(command.path, command.line, ("python", *words)))
    return f"the recipe of make {command.argv[1]} is not one python command"


def _run_blocks(page: Path, tmp_path: Path) -> list[str]:
    """Run a page's run-marked commands in order in ``tmp_path``; return the skipped ones with reasons."""
    (tmp_path / "examples").symlink_to(REPO / "examples")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    skipped = []
    for command in (c for c in collect(page) if c.run):
        argv = _runnable(command)
        if isinstance(argv, str):
            skipped.append(f"{command.where} `{command.text}`: {argv}")
            continue
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{command.where} `{command.text}` failed:\n{done.stderr[-3000:]}"
    return skipped


@pytest.mark.slow
def test_the_readme_quick_start_and_tour_run(tmp_path: Path) -> None:
    skipped = _run_blocks(REPO / "README.md", tmp_path)
    records = [json.loads(p.read_text()) for p in (tmp_path / "logs").rglob("result.json")]
    assert sum(r["status"] == "ok" and r["task"] == "segmentation" for r in records) >= 4
    assert list((tmp_path / "logs" / "train" / "multiruns").glob("*/matrix.csv"))
    assert (tmp_path / "exported" / "model.onnx").is_file()
    assert (tmp_path / "predictions" / "predictions.csv").is_file()
    assert all("runs this very test suite" in s for s in skipped), skipped


# --- the reference pages list every knob ---------------------------------------------------------------


def _section(page: Path, heading: str) -> str:
    """The text of ``page`` from ``heading`` to the next heading of the same or a higher level."""
    text = page.read_text()
    start = text.index(heading)
    level = heading.split(" ")[0]
    ends = [i for i in (text.find(f"\n{h} ", start + 1) for h in ("#" * n for n in range(1, len(level) + 1)))]
    return text[start : min([e for e in ends if e > 0], default=len(text))]


def test_the_cli_reference_lists_every_cvzoo_flag() -> None:
    from cvzoo.cli import build_parser

    page = REPO / "docs" / "reference" / "cli.md"
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"cvzoo {name} {flag}"
        for name, parser in subparsers.choices.items()
        for action in parser._actions
        for flag in action.option_strings
        if flag not in ("-h", "--help") and f"`{flag}" not in _section(page, f"### `cvzoo {name}`")
    ]
    assert not missing, f"docs/reference/cli.md does not document {missing}"


@pytest.mark.parametrize("config", ["export", "predict"])
def test_the_cli_reference_lists_every_entry_point_key(config: str) -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO / "configs" / f"{config}.yaml")
    keys = [f"{k}.{sub}" if isinstance(v, dict) else k for k, v in OmegaConf.to_container(cfg).items()
            if k not in ("defaults", "hydra") for sub in (v if isinstance(v, dict) else [None])]  # fmt: skip
    section = _section(REPO / "docs" / "reference" / "cli.md", f"## `{config}.py`")
    assert [k for k in keys if f"`{k}`" not in section] == []


def test_the_sweeper_reference_lists_every_guided_sweeper_key() -> None:
    from omegaconf import OmegaConf

    keys = [
        k for k in OmegaConf.load(REPO / "configs" / "hydra" / "sweeper" / "guided.yaml") if k != "_target_"
    ]
    page = (REPO / "docs" / "reference" / "sweeper-keys.md").read_text()
    assert [k for k in keys if f"`{k}`" not in page] == []


def test_the_readme_stays_a_short_manual_without_tracker_notes() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 250
    files = [*documented_pages(), *sorted((REPO / "configs").rglob("*.yaml"))]
    notes = re.compile(r"issue #|\.\./shared|not met", re.IGNORECASE)
    found = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in files for m in notes.finditer(p.read_text())]
    assert found == [], "user-facing files carry tracker notes or ../shared paths"
