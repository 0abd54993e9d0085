"""Honest evaluation of completion methods: hide known cells, predict them, score per column."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from cvzoo.errors import ConfigError
from cvzoo.predictors.completion import complete
from cvzoo.predictors.random_effects import equal_shares
from cvzoo.predictors.std_calibration import THIN_LINE

# global_mean: every hidden cell gets the mean of the kept ones; bias: the plain shared-scale row +
# column ridge model (lambda = 1); als: ``complete --method als`` (refused where it cannot be tuned).
BASE_METHODS = ("global_mean", "bias", "als", "auto")
# cover*_thin: coverage on the hidden cells whose row holds a single kept cell (see ``thin_rows``).
METRICS = ("nrmse", "spearman", "regret", "cover1", "cover2", "cover1_thin", "cover2_thin")
Runner = Callable[[np.ndarray, int], tuple[np.ndarray | None, np.ndarray | None, str]]


@dataclass
class Score:
    """Quality of one completion on the hidden cells, in per-column z-score units."""

    nrmse: float
    spearman: float
    regret: float
    cover1: float = np.nan
    cover2: float = np.nan
    cover1_thin: float = np.nan
    cover2_thin: float = np.nan


def hide_cells(known: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Keep about ``frac`` of the known cells, every non-empty row and column at least once."""
    if not 0 < frac < 1:
        raise ConfigError(f"--frac {frac} is outside (0, 1); pass the observed fraction, e.g. 0.2")
    keep = np.zeros(known.shape, dtype=bool)
    for i in np.flatnonzero(known.any(axis=1)):
        keep[i, rng.choice(np.flatnonzero(known[i]))] = True
    for j in np.flatnonzero(known.any(axis=0) & ~keep.any(axis=0)):
        keep[rng.choice(np.flatnonzero(known[:, j])), j] = True
    rest = np.argwhere(known & ~keep)
    extra = max(round(frac * int(known.sum())) - int(keep.sum()), 0)
    pick = rest[rng.choice(len(rest), size=min(extra, len(rest)), replace=False)]
    keep[pick[:, 0], pick[:, 1]] = True
    return keep


def column_zscores(full: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column centre and scale of the known cells (scale 1 for constant columns)."""
    center = np.nanmean(full, axis=0)
    scale = np.nanstd(full, axis=0)
    return center, np.where(scale > 0, scale, 1.0)


def _spearman(truth: np.ndarray, pred: np.ndarray) -> float:
    """Rank correlation; 0 when the prediction carries no ranking (constant)."""
    if truth.size < 3 or np.ptp(truth) == 0:
        return np.nan
    if np.ptp(pred) == 0:
        return 0.0
    return float(spearmanr(truth, pred).statistic)


def score_completion(full_z: np.ndarray, pred_z: np.ndarray, hidden: np.ndarray) -> Score:
    """nRMSE on hidden cells, mean per-column Spearman on hidden cells, mean top-1 regret."""
    if not hidden.any():
        return Score(np.nan, np.nan, np.nan)
    nrmse = float(np.sqrt(np.mean((pred_z[hidden] - full_z[hidden]) ** 2)))
    rhos, regrets = [], []
    known = np.isfinite(full_z)
    for j in range(full_z.shape[1]):
        rows = hidden[:, j]
        rhos.append(_spearman(full_z[rows, j], pred_z[rows, j]))
        if hidden[:, j].any():
            cand = np.flatnonzero(known[:, j])
            chosen = cand[np.argmax(pred_z[cand, j])]
            regrets.append(float(full_z[cand, j].max() - full_z[chosen, j]))
    rho = float(np.nanmean(rhos)) if np.isfinite(rhos).any() else np.nan
    return Score(nrmse, rho, float(np.mean(regrets)) if regrets else np.nan)


def coverage(truth: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[float, float]:
    """Share of cells whose truth lies within 1 and within 2 predicted std of the mean."""
    z = np.abs(truth - mean) / np.maximum(std, 1e-12)
    return float(np.mean(z <= 1)), float(np.mean(z <= 2))


def thin_rows(keep: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Hidden cells whose row holds a single kept cell: their std rests on how far one cell's row
    effect carries over, which no check on the kept cells can measure."""
    return hidden & (keep.sum(axis=1) <= THIN_LINE)[:, None]


def method_runners(row_features: np.ndarray | None, col_features: np.ndarray | None) -> dict[str, Runner]:
    """Each method as ``run(observed, seed) -> (filled, std or None, method used)``.

    A method that refuses the observed cells (ALS without enough cells to tune it) returns
    ``(None, None, "refused")`` and is left out of that run's scores.
    """

    def global_mean(obs: np.ndarray, seed: int):
        return np.where(np.isfinite(obs), obs, np.nanmean(obs)), None, "global_mean"

    def bias(obs: np.ndarray, seed: int):
        fit = equal_shares(obs)
        return fit.mean, fit.std, "bias"

    def via(method: str) -> Runner:
        def run(obs: np.ndarray, seed: int):
            try:
                result = complete(obs, method, seed, row_features, col_features)
            except ConfigError:
                return None, None, "refused"
            return result.mean, result.std, result.method

        return run

    runners: dict[str, Runner] = {"global_mean": global_mean, "bias": bias}
    runners |= {m: via(m) for m in BASE_METHODS[2:]}
    if row_features is not None or col_features is not None:
        runners["boost"] = via("boost")
    return runners


def evaluate_completion(
    full: np.ndarray,
    fracs: list[float],
    seeds: int,
    row_features: np.ndarray | None = None,
    col_features: np.ndarray | None = None,
    lower_is_better: bool = False,
    tick: Callable[[], None] | None = None,
) -> list[dict]:
    """Score every method at every observed fraction over ``seeds`` random maskings."""
    signed = -full if lower_is_better else full
    center, scale = column_zscores(signed)
    full_z = (signed - center) / scale
    known = np.isfinite(full)
    runners = method_runners(row_features, col_features)
    rows = []
    for frac in fracs:
        runs: dict[str, list] = {name: [] for name in runners}
        for seed in range(seeds):
            keep = hide_cells(known, frac, np.random.default_rng(seed))
            observed = np.where(keep, full, np.nan)
            hidden = known & ~keep
            for name, run in runners.items():
                start = time.perf_counter()
                filled, std, used = run(observed, seed)
                score = Score(np.nan, np.nan, np.nan)
                if filled is not None:
                    pred_z = ((-filled if lower_is_better else filled) - center) / scale
                    score = score_completion(full_z, pred_z, hidden)
                if std is not None and hidden.any():
                    score.cover1, score.cover2 = coverage(full[hidden], filled[hidden], std[hidden])
                    thin = thin_rows(keep, hidden)
                    if thin.any():
                        score.cover1_thin, score.cover2_thin = coverage(full[thin], filled[thin], std[thin])
                runs[name].append((score, used, time.perf_counter() - start))
                if tick is not None:
                    tick()
        rows.extend(_summarise(name, frac, got) for name, got in runs.items())
    return rows


def _summarise(name: str, frac: float, runs: list) -> dict:
    """Mean and std over seeds of each metric, plus how often each method was used."""
    out: dict = {"method": name, "frac": frac, "seeds": len(runs)}
    for metric in METRICS:
        vals = np.array([getattr(score, metric) for score, _, _ in runs], dtype=float)
        ok = vals[np.isfinite(vals)]
        out[metric] = float(ok.mean()) if ok.size else None
        out[f"{metric}_std"] = float(ok.std()) if ok.size else None
    used = [u for _, u, _ in runs]
    out["used"] = {u: used.count(u) for u in sorted(set(used))}
    out["seconds"] = float(np.mean([t for _, _, t in runs]))
    return out
