"""What a guided sweep over configurations leaves: every configuration, and the best recipe per cell.

``matrix.*`` stays backbone x head: each cell shows its best configuration, trained to the end
(``trained`` / ``earlier``) or predicted (its final value, by the search's model), labelled with the
recipe (the levels of the further swept keys). ``guided.json`` lists every configuration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cvzoo.results.quality_matrix import EARLIER, FAILED, MEASURED, NOT_RUN, PREDICTED, TRAINED, QualityMatrix
from cvzoo.results.record import FAILED as RECORD_FAILED
from cvzoo.sweeps.epoch_sweep import ConfigSweep, Progress


def _status(p: Progress, mean: float) -> str:
    """A configuration's status, as the matrix's cell statuses."""
    if p.failed:
        return FAILED
    if p.complete:
        return EARLIER if p.earlier and not p.trained_here else TRAINED
    return PREDICTED if np.isfinite(mean) else NOT_RUN


def config_rows(sweep: ConfigSweep) -> list[dict[str, Any]]:
    """One entry per configuration: its cell, recipe, overrides, status, epochs and values."""
    mean, std = np.full(len(sweep.configs), np.nan), np.full(len(sweep.configs), np.nan)
    if (sweep.search.epochs > 0).any():  # the search holds a curve it can place
        oriented, spread = sweep.search.predict()
        mean, std = sweep.sign * np.asarray(oriented, float), np.asarray(spread, float)
    grid, out = sweep.grid, []
    for i, (config, p) in enumerate(zip(sweep.configs, sweep.progress, strict=True)):
        seen = p.best(sweep.sign)
        status = _status(p, mean[i])
        out.append({
            grid.rows.record_key: grid.rows.options[config[0]],
            grid.cols.record_key: grid.cols.options[config[1]],
            "recipe": grid.recipe(config), "overrides": grid.overrides(config)[len(grid.fixed):],
            "status": status, "epochs": p.epochs, "stop_reason": RECORD_FAILED if p.failed else p.stop_reason,
            "epochs_this_sweep": p.trained_here, "best_seen": seen,
            "value": seen if status in MEASURED else None,
            "predicted_mean": float(mean[i]) if np.isfinite(mean[i]) else None,
            "predicted_std": float(std[i]) if np.isfinite(std[i]) else None,
            "run_dir": p.run_dir,
        })  # fmt: skip
    return out


def _label(recipe: dict[str, str]) -> str:
    """``optimizer.lr=0.001, augmentation=none`` (empty without factors)."""
    return ", ".join(f"{k}={v}" for k, v in recipe.items())


def best_per_cell(sweep: ConfigSweep, rows: list[dict[str, Any]], metric: str) -> QualityMatrix:
    """Backbone x head: per cell the best configuration (measured value, else predicted final)."""
    shape = sweep.grid.shape
    values, std = np.full(shape, np.nan), np.full(shape, np.nan)
    status = np.full(shape, NOT_RUN, dtype=object)
    labels = np.full(shape, "", dtype=object)
    best = np.full(shape, -np.inf)
    for config, row in zip(sweep.configs, rows, strict=True):
        cell = config[:2]
        if row["status"] == FAILED:
            if status[cell] == NOT_RUN:
                status[cell] = FAILED
            continue
        value = row["value"] if row["status"] in MEASURED else row["predicted_mean"]
        if value is None or sweep.sign * value <= best[cell]:
            continue
        best[cell], values[cell], status[cell] = sweep.sign * value, value, row["status"]
        std[cell] = row["predicted_std"] if row["status"] == PREDICTED else np.nan
        labels[cell] = _label(row["recipe"])
    winner = sweep.winner()
    grid = sweep.grid
    return QualityMatrix(
        list(grid.rows.options), list(grid.cols.options), values, grid.rows.record_key,
        grid.cols.record_key, metric, std, np.isin(status, MEASURED).astype(int), status,
        "min" if sweep.sign < 0 else "max",
        winner=None if winner is None else tuple(sweep.configs[winner][:2]), labels=labels,
    )  # fmt: skip


def sweep_summary(sweep: ConfigSweep, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Winner, budget and worker facts of a finished sweep."""
    winner = sweep.winner()
    open_ = [p for p in sweep.progress if not (p.complete or p.failed)]
    reason = "every configuration ended" if not open_ else "budget spent"
    pick = rows[winner] if winner is not None else None
    keys = (sweep.grid.rows.record_key, sweep.grid.cols.record_key)
    named = None if pick is None else [pick[keys[0]], pick[keys[1]], _label(pick["recipe"])]
    return {
        "fidelity": sweep.fidelity, "max_epochs": sweep.max_epochs,
        "rungs": sweep.stages.rungs(sweep.max_epochs),
        "configurations": len(sweep.configs), "factors": [f.key for f in sweep.grid.factors],
        "winner": named if not named or named[2] else named[:2],  # (row, col[, recipe])
        "winner_value": None if pick is None else pick["best_seen"],
        "winner_epochs": None if pick is None else pick["epochs"],
        "budget_epochs": sweep.budget, "epochs_used": sweep.used, "stop_reason": reason,
        "trained": sum(r["status"] == TRAINED for r in rows),
        "failed": sum(r["status"] == FAILED for r in rows),
        **sweep.clock.summary(),
    }  # fmt: skip


def summary_line(summary: dict[str, Any]) -> str:
    """The winner, the epochs spent and the idle share, in one line."""
    s = summary
    idle = s.get("idle_share")
    spent = f"epochs {s.get('epochs_used')}/{s.get('budget_epochs')} ({s.get('stop_reason')})"
    if s.get("winner") is None:
        failed = s.get("failed")
        return f"No winner: no configuration finished an epoch ({failed} failed, see guided.json); {spent}."
    return (f"Winner: {s.get('winner')} = {s.get('winner_value')} after {s.get('winner_epochs')} epochs; "
            f"{spent}; workers idle {'-' if idle is None else f'{idle:.0%}'}.")  # fmt: skip
