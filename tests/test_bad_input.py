"""Bad input never becomes a traceback: one ``error:`` line naming the value, and a non-zero exit.

Each row of ``CASES`` is what a user might type: a program (``train.py``, ``export.py``,
``predict.py`` or ``cvzoo``), its arguments with ``{placeholders}`` for the broken files the
``broken`` fixture writes, and the text the error line must contain.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cvzoo.errors import EXIT_BAD_INPUT
from tests.deploy_helpers import untrained_checkpoint, write_digit_images

REPO = Path(__file__).resolve().parents[1]
TINY = ("backbone=test_resnet", "dataset.fraction=0.1", "dataset.image_size=32", "logger=none")

# (program, arguments, text the error line must name)
CASES = [
    ("train.py", ["backbone=resnet1800"], "resnet1800"),
    ("train.py", ["optimizer=adamm"], "adamm"),
    ("train.py", ["trainer.max_epochz=1"], "trainer.max_epochz"),
    ("train.py", ["backbone=["], "backbone=["),
    ("train.py", ["seed=1,2"], "seed=1,2"),
    ("train.py", ["-m", "optimizer.lr=interval(0.001,0.1)"], "interval(0.001,0.1)"),
    ("train.py", ["-m", "backbone=glob(nomatch*)"], "glob(nomatch*)"),
    ("train.py", ["-m", "--cfg", "job"], "--cfg"),
    ("train.py", ["head=fpn", "dataset=digits"], "dataset=digits"),
    ("train.py", ["-m", "head=linear,fpn"], "head=linear,fpn"),
    ("train.py", ["paths.log_dir={file}/logs"], "{file}"),
    ("train.py", ["-m", "hydra.sweep.dir={file}/sweep"], "{file}"),
    ("train.py", [*TINY, "dataset.fraction=7"], "fraction"),
    ("train.py", [*TINY, "dataset=folder", "dataset.root={missing}"], "{missing}"),
    ("export.py", ["ckpt={empty_ckpt}"], "{empty_ckpt}"),
    ("export.py", ["ckpt={garbage_ckpt}"], "{garbage_ckpt}"),
    ("export.py", ["ckpt={missing}"], "{missing}"),
    ("export.py", ["ckpt={ckpt}", "opset=abc"], "opset='abc'"),
    ("export.py", ["ckpt={ckpt}", "format=tflite"], "tflite"),
    ("export.py", ["nokey=1"], "nokey"),
    ("predict.py", [], "model"),
    ("predict.py", ["model={empty_ckpt}", "inputs={images}"], "{empty_ckpt}"),
    ("predict.py", ["model={ckpt}", "inputs={missing}"], "{missing}"),
    ("predict.py", ["model={ckpt}", "inputs={images}", "topk=many"], "topk='many'"),
    ("predict.py", ["model={ckpt}", "inputs={images}", "out={file}/out"], "{file}"),
    ("predict.py", ["model={ckpt}", "inputs={images}", "out={full_disk}"], "predictions.csv"),
    ("cvzoo", ["nosuchcommand"], "nosuchcommand"),
    ("cvzoo", ["results", "--nosuchflag"], "--nosuchflag"),
    ("cvzoo", ["results", "{corrupt_records}"], "{corrupt_records}"),
    ("cvzoo", ["matrix", "{corrupt_records}"], "{corrupt_records}"),
    ("cvzoo", ["report", "{corrupt_records}"], "{corrupt_records}"),
    ("cvzoo", ["results", "--where", "dataset"], "dataset"),
    ("cvzoo", ["calibrate", "--ckpt", "{empty_ckpt}"], "{empty_ckpt}"),
    ("cvzoo", ["calibrate", "--ckpt", "{ckpt}", "--target-coverage", "most"], "most"),
    ("cvzoo", ["calibrate", "ckpt"], "ckpt"),
    ("cvzoo", ["complete", "{strings_csv}", "{out_csv}"], "abc"),
    ("cvzoo", ["complete", "{duplicated_csv}", "{out_csv}"], "linear"),
    ("cvzoo", ["complete", "{empty_column_csv}", "{out_csv}"], "mlp"),
    ("cvzoo", ["complete", "{ok_csv}", "{full_disk_csv}"], "{full_disk_csv}"),
    ("cvzoo", ["evaluate-completion", "{strings_csv}"], "abc"),
    ("cvzoo", ["simulate", "{duplicated_csv}"], "linear"),
    ("cvzoo", ["curve", "--input", "{strings_csv}"], "{strings_csv}"),
    ("cvzoo", ["boost", "{corrupt_records}"], "{corrupt_records}"),
]


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Broken and valid inputs, by placeholder name."""
    root = tmp_path_factory.mktemp("bad_input")
    files = {
        "file": root / "a_file",
        "missing": root / "does" / "not" / "exist",
        "empty_ckpt": root / "empty.ckpt",
        "garbage_ckpt": root / "garbage.ckpt",
        "strings_csv": root / "strings.csv",
        "duplicated_csv": root / "duplicated.csv",
        "empty_column_csv": root / "empty_column.csv",
        "ok_csv": root / "ok.csv",
        "out_csv": root / "filled.csv",
        "corrupt_records": root / "records",
        "images": root / "images",
        "full_disk": root / "full_disk",
        "full_disk_csv": root / "full_disk.csv",
    }
    files["file"].write_text("a file where a folder is expected")
    files["empty_ckpt"].write_bytes(b"")
    files["garbage_ckpt"].write_bytes(os.urandom(4096))
    files["strings_csv"].write_text("backbone,linear,mlp\nr18,0.9,abc\nvit,0.8,0.7\n")
    files["duplicated_csv"].write_text("backbone,linear,linear\nr18,0.9,0.8\nvit,0.8,0.7\n")
    files["empty_column_csv"].write_text("backbone,linear,mlp\nr18,0.9,\nvit,0.8,\n")
    files["ok_csv"].write_text("backbone,linear,mlp\nr18,0.9,\nvit,0.8,0.7\nr50,,0.75\n")
    (files["corrupt_records"] / "run").mkdir(parents=True)
    (files["corrupt_records"] / "run" / "result.json").write_text('{"status": "ok", "metr')
    write_digit_images(files["images"], count=3)
    # A full disk, for real: /dev/full answers every write with ENOSPC.
    files["full_disk"].mkdir()
    (files["full_disk"] / "predictions.csv").symlink_to("/dev/full")
    files["full_disk_csv"].symlink_to("/dev/full")
    paths = {key: str(path) for key, path in files.items()}
    paths["ckpt"] = str(untrained_checkpoint(root, "test_resnet", "linear"))
    return paths


def run_program(program: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run one entry point the way a user does, single-threaded and offline."""
    command = [sys.executable, "-m", "cvzoo"] if program == "cvzoo" else [sys.executable, str(REPO / program)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("CVZOO_DEBUG", None)
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize(("program", "args", "named"), CASES, ids=[f"{p}:{' '.join(a)}" for p, a, _ in CASES])
def test_bad_input_gives_one_error_line(
    program: str, args: list[str], named: str, broken: dict[str, str], tmp_path: Path
) -> None:
    args = [arg.format(**broken) for arg in args]
    if program == "train.py" and not any(a.startswith(("paths.log_dir", "hydra.sweep.dir")) for a in args):
        args += [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    result = run_program(program, args, tmp_path)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode != 0, output
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, result.stderr
    assert named.format(**broken) in error_lines[0], error_lines[0]


@pytest.mark.slow
def test_bad_values_exit_with_the_same_code_everywhere(broken: dict[str, str], tmp_path: Path) -> None:
    codes = [
        (program, run_program(program, args, tmp_path).returncode)
        for program, args in [
            ("train.py", ["backbone=resnet1800"]),
            ("export.py", [f"ckpt={broken['missing']}"]),
            ("predict.py", [f"model={broken['empty_ckpt']}", f"inputs={broken['images']}"]),
            ("cvzoo", ["calibrate", "--ckpt", broken["missing"]]),
            ("cvzoo", ["results", "--nosuchflag"]),
        ]
    ]
    assert {code for _, code in codes} == {EXIT_BAD_INPUT}, codes
