"""Held-out checks of the epoch-guided model against the successive-halving skeleton's own order.

The model earns a decision only where it has shown, on the curves seen so far, that it orders
configurations better than the rule it replaces. Configurations are split into two folds; each
fold's curves are hidden (or cut back to a rung) and predicted from the other fold, and the
rank correlation of these held-out predictions with the configurations' best-known finals (their
own curves, extrapolated from their last rung) is compared with the replaced rule's:

- **starting** a configuration by its predicted final instead of at random: the model must rank
  hidden configurations better than chance by more than one standard error of a rank correlation;
- **promoting** from rung k by the model instead of by the value at rung k (ASHA's rank rule): the
  model's predictions from curves cut back to rung k must rank the configurations trained past
  rung k better than their rung-k values do.

With fewer than MIN_CHECK configurations to check on, the model has shown nothing and the
skeleton's order is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

MIN_CHECK = 6  # configurations needed for a held-out check (two folds of at least three)

# predict(values, complete) -> mean final of every configuration from these curves
Predictor = Callable[[list[np.ndarray], np.ndarray], np.ndarray]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of ``a`` and ``b`` (0 when either is constant)."""
    ra, rb = rankdata(a), rankdata(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def held_out(
    predict: Predictor, values: list[np.ndarray], complete: np.ndarray, members: np.ndarray, cut: int
) -> np.ndarray:
    """Predictions for ``members`` with each fold's curves cut to ``cut`` epochs (0: hidden)."""
    out = np.empty(members.size)
    for fold in (np.arange(0, members.size, 2), np.arange(1, members.size, 2)):
        hidden = members[fold]
        cut_values, cut_complete = list(values), complete.copy()
        for i in hidden:
            cut_values[i] = values[i][:cut]
            cut_complete[i] = False
        out[fold] = predict(cut_values, cut_complete)[hidden]
    return out


@dataclass
class Trust:
    """Where the model has earned the decision: starting, and promoting from each rung."""

    start: bool = False
    promote: dict[int, bool] = field(default_factory=dict)


def check(
    predict: Predictor,
    values: list[np.ndarray],
    complete: np.ndarray,
    level: np.ndarray,
    rungs: list[int],
    target: np.ndarray,
) -> Trust:
    """Run the held-out checks on the curves seen so far (``target``: best-known finals)."""
    trust = Trust()
    started = np.flatnonzero(level >= 0)
    if started.size >= MIN_CHECK:
        rho = rank_correlation(held_out(predict, values, complete, started, 0), target[started])
        trust.start = rho > 1 / np.sqrt(started.size - 1)
    for k in range(len(rungs) - 1):
        past = np.flatnonzero(level > k)
        if past.size < MIN_CHECK:
            continue
        model = held_out(predict, values, complete, past, rungs[k])
        at_rung = np.array([values[i][rungs[k] - 1] for i in past])
        trust.promote[k] = rank_correlation(model, target[past]) > rank_correlation(at_rung, target[past])
    return trust
