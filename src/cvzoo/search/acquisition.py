"""Acquisition for the guided search: score untrained cells, pick batches, decide when to stop.

Plain functions on arrays. ``completion`` is anything with ``mean`` and ``std`` (R, C) arrays
(a ``cvzoo.predictors.Completion``); ``observed`` is (R, C) with NaN for untrained cells. Every
score is oriented so that higher is better (``lower_is_better`` negates the values).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtr

from cvzoo.errors import ConfigError

Cell = tuple[int, int]
ACQUISITIONS = ("ucb", "ei")
# After a cell is picked for a batch, the std of its row and column is shrunk by this factor
# (a cheap stand-in for refitting on the fantasy value), so one batch spreads over the grid.
BATCH_SHRINK = 0.7


def oriented(values: np.ndarray, lower_is_better: bool) -> np.ndarray:
    """Values with higher = better."""
    return -values if lower_is_better else values


def best_observed(observed: np.ndarray, lower_is_better: bool = False) -> float:
    """The best trained value in oriented units (higher is better); -inf when none."""
    finite = observed[np.isfinite(observed)]
    return float(oriented(finite, lower_is_better).max()) if finite.size else -np.inf


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """log E[max(0, X - best)] for X ~ N(mean, std^2), accurate far below the incumbent too.

    Plain EI underflows to 0 for cells many std below the best, which would leave their order to
    chance; the log form keeps ranking them (asymptotic tail phi(z) / z^2 for z < -5).
    """
    sd = np.maximum(std, 1e-12)
    z = np.asarray((mean - best) / sd, float)
    far = z < -5
    zn = np.where(far, -5.0, z)  # each formula only where it is accurate
    log_h = np.log(zn * ndtr(zn) + np.exp(-0.5 * zn * zn) / np.sqrt(2 * np.pi))
    if far.any():
        zf = z[far]
        series = -3 / zf**2 + 15 / zf**4 - 105 / zf**6  # Mills-ratio expansion of h z^2 / phi
        log_h[far] = -0.5 * zf * zf - 0.5 * np.log(2 * np.pi) - 2 * np.log(-zf) + np.log1p(series)
    return np.log(sd) + log_h


def acquisition_scores(
    mean: np.ndarray, std: np.ndarray, best: float, acquisition: str = "ei", kappa: float = 2.0
) -> np.ndarray:
    """Score cells (higher = more promising): upper confidence bound or log expected improvement."""
    sd = np.maximum(std, 1e-12)
    if acquisition == "ucb" or (acquisition == "ei" and not np.isfinite(best)):
        return mean + kappa * sd
    if acquisition == "ei":
        return log_expected_improvement(mean, sd, best)
    raise ConfigError(f"acquisition={acquisition!r} is unknown; use one of {', '.join(ACQUISITIONS)}")


def select_batch(
    mean: np.ndarray,
    std: np.ndarray,
    best: float,
    candidates: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    acquisition: str = "ei",
    kappa: float = 2.0,
    pending: Iterable[Cell] = (),
) -> list[Cell]:
    """Pick ``batch_size`` distinct candidate cells greedily with a kriging-believer fantasy.

    Each picked (or pending) cell is assumed to come out at its predicted mean (raising the
    incumbent for EI) and shrinks the std of its row and column, so the batch spreads out.
    """
    std = std.astype(float).copy()
    free = candidates.copy()
    jitter = rng.random(mean.shape) * 1e-9  # random tie-breaking among equal scores

    def score(at: Any = ...) -> np.ndarray:
        raw = acquisition_scores(mean[at], std[at], best, acquisition, kappa) + jitter[at]
        return np.where(free[at], raw, -np.inf)

    def believe(r: int, c: int) -> None:
        nonlocal best
        std[r, :] *= BATCH_SHRINK
        std[:, c] *= BATCH_SHRINK
        free[r, c] = False
        best = max(best, float(mean[r, c]))

    for r, c in pending:
        believe(r, c)
    scores, picks = score(), []
    while len(picks) < batch_size:
        r, c = divmod(int(scores.argmax()), mean.shape[1])
        if not free[r, c]:
            break
        picks.append((r, c))
        before = best
        believe(r, c)
        if acquisition == "ei" and best != before:
            scores = score()  # the incumbent moved: every EI changes
        else:  # only the picked row and column changed
            scores[r, :], scores[:, c] = score(np.s_[r, :]), score(np.s_[:, c])
    return picks


def column_offset_var(observed: np.ndarray) -> np.ndarray:
    """Posterior variance of each column's mean given its trained cells (normal-normal model).

    The between-column spread of the observed column means is the prior, the spread of cells
    around their column mean the noise: a column with no trained cell keeps the whole prior.
    """
    known = np.isfinite(observed)
    n = known.sum(axis=0)
    if n.sum() < 2:
        return np.zeros(observed.shape[1])
    sums = np.where(known, observed, 0.0).sum(axis=0)
    means = sums[n > 0] / n[n > 0]
    col_mean = np.zeros(observed.shape[1])
    col_mean[n > 0] = means
    resid = np.where(known, observed - col_mean[None, :], 0.0)
    noise = float((resid**2).sum() / max(known.sum() - (n > 0).sum(), 1))
    prior = float(means.var()) if means.size > 1 else float(np.nanvar(observed))
    if prior <= 0:
        return np.zeros(observed.shape[1])
    noise = noise if noise > 0 else prior
    return prior * noise / (noise + n * prior)


def search_std(completion: Any, observed: np.ndarray, std_scale: float = 1.0) -> np.ndarray:
    """The std the search acts on: the predictors' std plus the column-offset uncertainty.

    The completion centres every column on the mean of its observed cells and its std leaves
    out the error of that centre, which is large for columns trained once or never; without
    it the search would hardly ever explore an untried column. ``std_scale`` widens the result
    when the search has seen its predictions miss by more than their std (see GuidedSearch).
    """
    std = np.asarray(completion.std, float)
    if getattr(completion, "offsets_in_std", False):  # the model's std holds column offsets
        return std_scale * std
    extra = np.where(np.isfinite(observed), 0.0, column_offset_var(observed)[None, :])
    return std_scale * np.sqrt(std**2 + extra)


def candidate_mask(observed: np.ndarray, trainable_mask: np.ndarray | None) -> np.ndarray:
    """Cells that may still be trained: trainable and not yet observed."""
    untrained = ~np.isfinite(observed)
    return untrained if trainable_mask is None else untrained & trainable_mask


def _beat_stats(completion, observed, trainable_mask, lower_is_better: bool, std_scale: float):
    """Oriented mean/std of the untrained trainable cells and the best trained value."""
    free = candidate_mask(observed, trainable_mask)
    mean = oriented(np.asarray(completion.mean, float), lower_is_better)[free]
    std = np.maximum(search_std(completion, observed, std_scale)[free], 1e-12)
    return mean, std, best_observed(observed, lower_is_better)


def stop_probability(
    completion: Any,
    observed: np.ndarray,
    trainable_mask: np.ndarray | None = None,
    lower_is_better: bool = False,
    std_scale: float = 1.0,
) -> float:
    """Predicted chance that some untrained cell beats the best trained one: 1 - prod(1 - p)."""
    mean, std, best = _beat_stats(completion, observed, trainable_mask, lower_is_better, std_scale)
    if mean.size == 0:
        return 0.0
    if not np.isfinite(best):
        return 1.0
    log_none = log_ndtr((best - mean) / std).sum()  # log prod P(cell <= best)
    return float(-np.expm1(log_none))


def estimate_regret(
    completion: Any,
    observed: np.ndarray,
    trainable_mask: np.ndarray | None = None,
    lower_is_better: bool = False,
    std_scale: float = 1.0,
    n_grid: int = 256,
) -> float:
    """Expected remaining regret E[max(0, max untrained - best trained)] under the Gaussians."""
    mean, std, best = _beat_stats(completion, observed, trainable_mask, lower_is_better, std_scale)
    if mean.size == 0:
        return 0.0
    if not np.isfinite(best):
        return float("nan")
    reach = mean + 8 * std
    live = reach > best
    if not live.any():
        return 0.0
    mean, std = mean[live], std[live]
    t = np.linspace(0.0, float(reach[live].max() - best), n_grid)
    # P(max - best > t) = 1 - prod_i Phi((best + t - mean_i) / std_i), one grid point at a time
    exceed = np.array([-np.expm1(log_ndtr((best + x - mean) / std).sum()) for x in t])
    return float(np.trapezoid(exceed, t))
