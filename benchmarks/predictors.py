"""Section 5: ALS completion time and peak memory; ``cvzoo simulate`` wall time."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import numpy as np

from benchmarks.common import REPO, Row, Settings, fmt

SHAPES = ((100, 100), (1_000, 1_000), (10_000, 1_000))
MATRIX = REPO / "tests" / "data" / "matrices" / "sfda_supervised_finetune_top1.csv"


def low_rank_observed(rows: int, cols: int, share: float = 0.1, rank: int = 5, seed: int = 0) -> np.ndarray:
    """A noisy rank-``rank`` matrix with ``share`` of its cells observed (the rest NaN)."""
    rng = np.random.default_rng(seed)
    full = rng.normal(size=(rows, rank)) @ rng.normal(size=(rank, cols)) + 0.1 * rng.normal(size=(rows, cols))
    full[rng.random((rows, cols)) >= share] = np.nan
    return full


def als_row(rows: int, cols: int) -> Row:
    """Fit time and tracemalloc peak of ``complete(observed, method="als")``."""
    from cvzoo.predictors.completion import complete

    observed = low_rank_observed(rows, cols)
    tracemalloc.start()
    start = time.perf_counter()
    complete(observed, method="als")
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    target = ""
    if (rows, cols) == (1_000, 1_000):
        target = f"< 2 s ({'met' if seconds < 2 else 'MISSED'})"
    return Row(
        "5 predictors",
        f"ALS {rows:,}x{cols:,}, 10% observed",
        f"{seconds:.2f} s, peak {peak / 2**20:,.0f} MiB",
        target,
    )


def simulate_row(seeds: int) -> Row:
    """Wall time of ``cvzoo simulate`` (subprocess, so imports count as a user would see them)."""
    command = [
        sys.executable,
        "-m",
        "cvzoo",
        "simulate",
        str(MATRIX),
        "--budget",
        "0.1",
        "0.2",
        "0.3",
        "--seeds",
        str(seeds),
        "--json",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return Row(
            "5 predictors", "cvzoo simulate", "n/a", (done.stderr.strip().splitlines() or ["failed"])[-1][:80]
        )
    return Row(
        "5 predictors", f"cvzoo simulate {MATRIX.stem}, {seeds} seeds, 3 budgets", fmt(seconds, "s", 2)
    )


def run(st: Settings) -> list[Row]:
    """Section 5."""
    shapes = SHAPES[:2] if st.quick else SHAPES
    return [*(als_row(r, c) for r, c in shapes), simulate_row(2 if st.quick else 20)]
