"""Bad input never becomes a traceback: one ``error:`` line naming the value, and a non-zero exit.

Each row of ``CASES`` is what a user might type: a program (``train.py``, ``export.py``,
``predict.py`` or ``cvzoo``), its arguments with ``{placeholders}`` for the broken files the
``broken`` fixture writes, and the text the error line must contain.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cvzoo.cli import main
from cvzoo.errors import EXIT_BAD_INPUT, EXIT_FAILED, ConfigError, DivergedError, error_line
from tests.deploy_helpers import untrained_checkpoint, write_digit_images

REPO = Path(__file__).resolve().parents[1]
TINY = ("backbone=test_resnet", "dataset.fraction=0.1", "dataset.image_size=32", "logger=none")

# (program, arguments, text the error line must name); the early command-line checks of train.py
# are covered in-process, form by form, in test_override_syntax.py.
SCRIPT_CASES = [
    ("train.py", ["backbone=resnet1800"], "resnet1800"),
    ("train.py", ["trainer.max_epochz=1"], "trainer.max_epochz"),
    ("train.py", ["trainer.max_epochs=abc"], "trainer.max_epochs='abc'"),
    ("train.py", ["-m", "--cfg", "job"], "--cfg"),
    ("train.py", ["head=fpn", "dataset=digits"], "dataset=digits"),
    ("train.py", ["paths.log_dir={file}/logs"], "{file}"),
    ("train.py", ["-m", "hydra.sweep.dir={file}/sweep"], "{file}"),
    ("train.py", [*TINY, "dataset.fraction=7"], "fraction"),
    ("train.py", [*TINY, "+resume=true", "trainer.stop_after_epochs=three"], "stop_after_epochs='three'"),
    ("train.py", [*TINY, "dataset=folder", "dataset.root={missing}"], "{missing}"),
    ("train.py", ["-m", "hydra/sweeper=guided", "hydra.sweeper.budget=abc", "head=linear,mlp"], "'abc'"),
    ("export.py", ["ckpt={empty_ckpt}"], "{empty_ckpt}"),
    ("export.py", ["ckpt={garbage_ckpt}"], "{garbage_ckpt}"),
    ("export.py", ["ckpt={missing}"], "{missing}"),
    ("export.py", ["ckpt={ckpt}", "opset=abc"], "opset='abc'"),
    ("export.py", ["ckpt={ckpt}", "format=tflite"], "tflite"),
    ("export.py", ["nokey=1"], "nokey"),
    ("predict.py", [], "is required"),
    ("predict.py", ["model={empty_ckpt}", "inputs={images}"], "{empty_ckpt}"),
    ("predict.py", ["model={ckpt}", "inputs={missing}"], "{missing}"),
    ("predict.py", ["model={ckpt}", "inputs={images}", "topk=many"], "topk='many'"),
    ("predict.py", ["model={ckpt}", "inputs={images}", "out={file}/out"], "{file}"),
    ("predict.py", ["model={ckpt}", "inputs={images}", "out={full_disk}"], "{full_disk}"),
]

CVZOO_CASES = [
    (["nosuchcommand"], "nosuchcommand"),
    (["results", "--nosuchflag"], "--nosuchflag"),
    (["matrix", "{corrupt_records}"], "{corrupt_records}"),
    (["report", "{corrupt_records}"], "{corrupt_records}"),
    (["results", "--where", "dataset"], "dataset"),
    (["calibrate", "--ckpt", "{empty_ckpt}"], "{empty_ckpt}"),
    (["calibrate", "--ckpt", "{ckpt}", "--target-coverage", "most"], "most"),
    (["calibrate", "ckpt"], "ckpt"),
    (["complete", "{strings_csv}", "{out_csv}"], "abc"),
    (["complete", "{duplicated_csv}", "{out_csv}"], "linear"),
    (["complete", "{ok_csv}", "{full_disk_csv}"], "{full_disk_csv}"),
    (["evaluate-completion", "{strings_csv}"], "abc"),
    (["simulate", "{duplicated_csv}"], "linear"),
    (["curve", "--input", "{strings_csv}"], "{strings_csv}"),
    (["boost", "--from-results", "{corrupt_records}"], "found 0"),
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


def assert_one_error_line(stderr: str, named: str) -> None:
    """Exactly one ``error:`` line on stderr, naming ``named``."""
    error_lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, stderr
    assert named in error_lines[0], error_lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("program", "args", "named"), SCRIPT_CASES, ids=[f"{p}:{' '.join(a)}" for p, a, _ in SCRIPT_CASES]
)
def test_bad_script_input_gives_one_error_line(
    program: str, args: list[str], named: str, broken: dict[str, str], tmp_path: Path
) -> None:
    args = [arg.format(**broken) for arg in args]
    if program == "train.py" and not any(a.startswith(("paths.log_dir", "hydra.sweep.dir")) for a in args):
        args += [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    result = run_program(program, args, tmp_path)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode != 0, result.stderr
    assert_one_error_line(result.stderr, named.format(**broken))


@pytest.mark.parametrize(("args", "named"), CVZOO_CASES, ids=[" ".join(a) for a, _ in CVZOO_CASES])
def test_bad_cvzoo_input_gives_one_error_line(
    args: list[str], named: str, broken: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    try:
        code = main([arg.format(**broken) for arg in args])
    except SystemExit as exit_info:  # argparse's own usage errors
        code = exit_info.code
    assert code != 0
    assert_one_error_line(capsys.readouterr().err, named.format(**broken))


def test_an_all_empty_column_is_predicted_with_one_warning_line_naming_it(
    broken: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    # A head nobody trained yet is a plan, not bad input: it gets the row effects and a wide std.
    assert main(["complete", broken["empty_column_csv"], broken["out_csv"]]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "mlp" in warnings[0]
    assert Path(broken["out_csv"]).is_file()


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


def test_a_listing_skips_a_corrupt_record_with_a_warning_naming_it(
    broken: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    assert main(["results", broken["corrupt_records"]]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "records/run/result.json" in warnings[0]


@pytest.mark.parametrize(
    ("err", "expected", "code"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "out/x.csv"), "no space left", EXIT_BAD_INPUT),
        (PermissionError(errno.EACCES, "Permission denied", "out/x.csv"), "pick a writable", EXIT_BAD_INPUT),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "out/x.csv"), "is a file", EXIT_BAD_INPUT),
        (ConfigError("head=x is unknown; pick head=linear"), "head=x", EXIT_BAD_INPUT),
        (DivergedError("loss is nan at step 3; lower optimizer.lr"), "nan", EXIT_FAILED),
        (KeyError("surprise"), "unexpected KeyError", EXIT_FAILED),
    ],
)
def test_every_error_becomes_one_line_and_an_exit_code(err: Exception, expected: str, code: int) -> None:
    line, exit_code = error_line(err)
    assert expected in line and "\n" not in line and exit_code == code
    if isinstance(err, OSError):
        assert "out/x.csv" in line
