"""Section 5: ALS completion time and peak memory; ``cvzoo simulate`` wall time; one epoch-guided
sweep decision."""

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


def _measure(fn) -> tuple[float, float]:
    """Wall seconds of one untraced call and the tracemalloc peak (MiB) of a second, traced call."""
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def als_rows(rows: int, cols: int) -> list[Row]:
    """The ALS fit alone (rank 5, SVD start, to convergence) and ``complete`` with its CV search."""
    from cvzoo.predictors.als import fit_als
    from cvzoo.predictors.bias import Cells
    from cvzoo.predictors.completion import complete
    from cvzoo.predictors.selection import FINAL_SWEEPS, FINAL_TOL

    observed = low_rank_observed(rows, cols)
    cells = Cells.from_matrix(observed)
    fit_s, fit_peak = _measure(lambda: fit_als(cells, 5, 0.1, n_iter=FINAL_SWEEPS, tol=FINAL_TOL))
    full_s, full_peak = _measure(lambda: complete(observed, method="als"))
    target = ""
    if (rows, cols) == (1_000, 1_000):
        target = f"< 2 s ({'met' if fit_s < 2 else 'MISSED'})"
    size = f"{rows:,}x{cols:,}, 10% observed"
    return [
        Row("5 predictors", f"ALS fit {size} (rank 5)", f"{fit_s:.2f} s, peak {fit_peak:,.0f} MiB", target),
        Row(
            "5 predictors",
            f"complete(method=als) {size}: CV rank/reg search + fit",
            f"{full_s:.2f} s, peak {full_peak:,.0f} MiB",
            "what `cvzoo complete` costs",
        ),
    ]


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


def epoch_decision_row(shape: tuple[int, ...] = (10, 20), max_epochs: int = 50) -> Row:
    """Wall time of one epoch-guided decision (refit + choice), half of the configurations started.

    ``shape`` is (rows, columns, recipe levels...): the grid of the live sweeper, whose factor
    columns are the column and every recipe key. The slowest of five decisions is reported: the
    first one also runs the held-out checks.
    """
    from cvzoo.search.fidelity import FidelityConfig, Ledger
    from cvzoo.search.multifidelity import EpochGuidedSearch

    rng = np.random.default_rng(0)
    table = np.array(list(np.ndindex(*shape)))
    n = len(table)
    effects = [rng.normal(size=levels) for levels in shape]
    finals = sum(effect[table[:, k]] for k, effect in enumerate(effects))
    epochs = np.arange(1, max_epochs + 1)
    curves = [f - np.exp(-epochs / 8) + 0.05 * rng.normal(size=max_epochs) for f in finals]
    ledger = Ledger(curves, budget=10 * n)
    factors = table[:, 1:] if len(shape) > 2 else None
    search = EpochGuidedSearch(table[:, 0], table[:, 1], max_epochs, factors)
    rungs = FidelityConfig().rungs(max_epochs)
    for i in rng.permutation(n)[: n // 2]:  # half the grid started, at every rung
        ledger.train(int(i), int(rng.choice(rungs)))
        search.tell(int(i), ledger.best_so_far[i][: ledger.epochs[i]], ledger.complete(int(i)))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        search.ask(refit=True)
        times.append(time.perf_counter() - start)
    seconds = float(max(times))
    target = f"< 1 s ({'met' if seconds < 1 else 'MISSED'})"
    grid = " x ".join(map(str, shape))
    name = f"epoch-guided decision (refit + choice), {grid} = {n} configurations, half started"
    return Row("5 predictors", name, fmt(seconds, "s", 3), target)


def run(st: Settings) -> list[Row]:
    """Section 5."""
    shapes = SHAPES[:2] if st.quick else SHAPES
    return [
        *(row for r, c in shapes for row in als_rows(r, c)),
        simulate_row(2 if st.quick else 20),
        epoch_decision_row(),
        epoch_decision_row((5, 4, 2, 5)),  # backbone x head x optimizer x learning rate
    ]
