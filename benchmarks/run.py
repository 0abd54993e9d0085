"""Run the benchmark sections, print one table and write ``benchmarks/RESULTS.md``.

``python -m benchmarks.run --device cpu|cuda [--quick] [--sections 1 3 5]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

from benchmarks.common import Row, Settings, make_workdir

# Section number -> module with ``run(Settings) -> list[Row]``.
SECTIONS = {
    "1": "benchmarks.training",  # also section 2 (shares model and data)
    "3": "benchmarks.augmentation",
    "4": "benchmarks.inference",
    "5": "benchmarks.predictors",
    "6": "benchmarks.gpu",
    "7": "benchmarks.data_path",
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where available)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(device: str, threads: int) -> list[str]:
    """Machine, library versions and date for the results file."""
    import lightning
    import numpy
    import onnxruntime
    import timm
    import torch

    gpu = torch.cuda.get_device_name(0) if device == "cuda" and torch.cuda.is_available() else "none used"
    return [
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores; torch threads: {threads}",
        f"- GPU: {gpu}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"lightning {lightning.__version__}, timm {timm.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}",
    ]


def table_markdown(rows: Sequence[Row]) -> str:
    """The rows as one markdown table."""
    lines = ["| Section | Measurement | Value | Target / note |", "|---|---|---|---|"]
    lines += [f"| {r.section} | {r.name} | {r.value} | {r.target} |" for r in rows]
    return "\n".join(lines)


def print_table(rows: Sequence[Row]) -> None:
    """Print the rows as one rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="cvzoo benchmarks")
    for column in ("Section", "Measurement", "Value", "Target / note"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.section, r.name, r.value, r.target)
    Console(width=160).print(table)


def write_results(
    path: Path, rows: Sequence[Row], args: argparse.Namespace, threads: int, seconds: float
) -> None:
    """Write the results file: command, machine, table."""
    text = [
        "# cvzoo benchmark results",
        "",
        f"Command: `python -m benchmarks.run --device {args.device}{' --quick' if args.quick else ''}` "
        f"({seconds / 60:.1f} min). Ratios were measured side by side in one process, alternating the "
        "compared variants (A, B, A, B, ...), median of the repeats.",
        "",
        *machine_lines(args.device, threads),
        "",
        table_markdown(rows),
        "",
    ]
    if args.note:
        text.insert(4, f"Note: {args.note}\n")
    path.write_text("\n".join(text))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke check, not a measurement")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    p.add_argument("--threads", type=int, default=1, help="torch/onnxruntime CPU threads (default 1)")
    p.add_argument("--output", type=Path, default=None, help=f"results file (default {RESULTS})")
    p.add_argument("--note", default="", help="a line added to the results file (e.g. machine shared)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen sections and report."""
    import torch

    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    settings = Settings(args.device, args.quick, args.threads, make_workdir())
    rows: list[Row] = []
    start = time.perf_counter()
    for key in args.sections:
        print(f"[bench] section {key} ({SECTIONS[key]})", file=sys.stderr, flush=True)
        module = importlib.import_module(SECTIONS[key])
        rows += module.run(settings)
    seconds = time.perf_counter() - start
    print_table(rows)
    output = args.output or (RESULTS if not args.quick else settings.workdir / "RESULTS.md")
    write_results(output, rows, args, args.threads, seconds)
    print(f"results written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
