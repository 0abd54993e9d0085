"""The guided search's budget and its initial covering design (every row and column once)."""

from __future__ import annotations

import numpy as np

from cvzoo.errors import ConfigError
from cvzoo.search.acquisition import Cell


def resolve_budget(budget: float | int, n_trainable: int) -> int:
    """Turn a budget (a fraction in (0, 1] of the trainable cells, or an int >= 1) into runs."""
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.integer | np.floating):
        raise ConfigError(f"budget={budget!r} is not a number; use a fraction like 0.3 or runs")
    if isinstance(budget, int | np.integer):
        runs = int(budget)
    elif 0 < budget <= 1:
        runs = max(1, round(float(budget) * n_trainable))
    elif float(budget).is_integer():
        runs = int(budget)
    else:
        runs = 0
    if runs < 1:
        raise ConfigError(
            f"budget={budget!r} is invalid; use a fraction in (0, 1] of the grid or an integer "
            "number of runs >= 1"
        )
    return min(runs, n_trainable)


def _weighted_order(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices in random order, heavier ones earlier on average (Efraimidis-Spirakis keys)."""
    keys = rng.exponential(size=weights.size) / np.maximum(weights, 1e-12)
    return np.argsort(keys, kind="stable")


def _least_used(candidates: np.ndarray, use: np.ndarray, rng: np.random.Generator) -> int:
    """A random candidate among those used the fewest times so far."""
    counts = use[candidates]
    return int(rng.choice(candidates[counts == counts.min()]))


def initial_design(
    n_rows: int,
    n_cols: int,
    trainable_mask: np.ndarray | None,
    rng: np.random.Generator,
    trained: np.ndarray | None = None,
) -> list[Cell]:
    """A randomized Latin-style design covering every coverable row and column (~max(R, C) cells).

    Rows come in random order, each paired with its least-used trainable column, so the first
    min(R, C) cells already hit distinct columns; leftover columns then get their least-used row.
    On a partly trainable grid, rows (then columns) with more trainable cells tend to come first
    (they inform more candidates): the first cell is drawn exactly like a random-search pick, and
    a design cut short by the budget samples the grid much like random search would. Rows and
    columns that already hold a ``trained`` cell are skipped.
    """
    mask = np.ones((n_rows, n_cols), bool) if trainable_mask is None else trainable_mask.copy()
    seen = np.zeros((n_rows, n_cols), bool) if trained is None else np.asarray(trained, bool)
    mask &= ~seen
    row_use, col_use = seen.sum(axis=1), seen.sum(axis=0)
    row_weight, col_weight = mask.sum(axis=1), mask.sum(axis=0)
    design: list[Cell] = []
    for r in _weighted_order(row_weight, rng):
        cols = np.flatnonzero(mask[r])
        if cols.size and row_use[r] == 0:
            c = _least_used(cols, col_use, rng)
            design.append((int(r), c))
            row_use[r] += 1
            col_use[c] += 1
    for c in _weighted_order(col_weight, rng):
        rows = np.flatnonzero(mask[:, c])
        if col_use[c] == 0 and rows.size:
            r = _least_used(rows, row_use, rng)
            design.append((r, int(c)))
            row_use[r] += 1
            col_use[c] += 1
    return design
