"""Learning curves: fit metric-vs-training-size points, extrapolate with intervals, size for a target.

Two monotone families in ``u = log(size)``:

- ``logistic`` (4 parameters, equivalent to MMF4): ``c + (a - c) / (1 + (x / x0) ** d)``,
- ``power`` (3 parameters): ``a - b * x ** (-c)``.

Both are fitted by bounded least squares from several starts, with a weak prior on the shape
parameters so that fits on 3-4 points stay sane; the family is chosen by leave-last-out error
(fit on all but the largest size, predict it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from cvzoo.errors import DataError

MIN_SIZES = 3


@dataclass(frozen=True)
class Family:
    """A curve family: prediction in log-size, parameter bounds, starts and a weak shape prior."""

    name: str
    predict: Callable[[np.ndarray, np.ndarray], np.ndarray]
    bounds: Callable[[tuple[float, float], np.ndarray], tuple[np.ndarray, np.ndarray]]
    starts: Callable[[np.ndarray, np.ndarray, tuple[float, float]], list[np.ndarray]]
    prior: Callable[[np.ndarray], np.ndarray]
    public: Callable[[np.ndarray], dict[str, float]]


def _logistic(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``c + (a - c) / (1 + exp(d * (u - u0)))`` with ``t = (a, c, u0, d)``."""
    a, c, u0, d = t
    z = np.clip(d * (u - u0), -60.0, 60.0)
    return c + (a - c) / (1.0 + np.exp(z))


def _logistic_bounds(vb: tuple[float, float], u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and asymptote inside the value bounds, inflection within a wide band around the data."""
    lo, hi = vb
    return (
        np.array([lo, lo, u.min() - 8.0, 0.05]),
        np.array([hi, hi, u.max() + 8.0, 8.0]),
    )


def _logistic_starts(u: np.ndarray, y: np.ndarray, vb: tuple[float, float]) -> list[np.ndarray]:
    """Starts spread over where the inflection and the asymptote may be."""
    lo, hi = vb
    first, last = y[np.argmin(u)], y[np.argmax(u)]
    span = max(abs(last - first), 1e-3 * max(hi - lo, 1.0))
    sign = 1.0 if last >= first else -1.0
    starts = []
    for gain in (0.5, 2.0):
        c = float(np.clip(last + sign * gain * span, lo, hi))
        a = float(np.clip(first - sign * span, lo, hi))
        for u0 in (u.min(), 0.5 * (u.min() + u.max()), u.max() + 1.0):
            for d in (0.7, 1.5):
                starts.append(np.array([a, c, u0, d]))
    return starts


def _logistic_public(t: np.ndarray) -> dict[str, float]:
    """User-facing parameters ``a, c, x0, d``."""
    return {"a": t[0], "c": t[1], "x0": math.exp(t[2]), "d": t[3]}


def _power(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``a - b * exp(-c * u)`` with ``t = (a, b, c)``."""
    a, b, c = t
    return a - b * np.exp(np.clip(-c * u, -60.0, 60.0))


def _power_bounds(vb: tuple[float, float], u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Asymptote inside the value bounds; ``b`` large enough for any start at the smallest size."""
    lo, hi = vb
    scale = (hi - lo) * math.exp(3.0 * max(u.min(), 0.0)) + 1.0
    return np.array([lo, -scale, 0.01]), np.array([hi, scale, 3.0])


def _power_starts(u: np.ndarray, y: np.ndarray, vb: tuple[float, float]) -> list[np.ndarray]:
    """Starts with several exponents and asymptotes beyond the last value."""
    lo, hi = vb
    first, last = y[np.argmin(u)], y[np.argmax(u)]
    span = max(abs(last - first), 1e-3 * max(hi - lo, 1.0))
    sign = 1.0 if last >= first else -1.0
    starts = []
    for gain in (0.2, 1.0):
        a = float(np.clip(last + sign * gain * span, lo, hi))
        for c in (0.1, 0.4, 1.0):
            b = (a - first) * math.exp(c * u.min())
            bl, bh = _power_bounds(vb, u)
            starts.append(np.clip(np.array([a, b, c]), bl + 1e-9, bh - 1e-9))
    return starts


def _power_public(t: np.ndarray) -> dict[str, float]:
    """User-facing parameters ``a, b, c``."""
    return {"a": t[0], "b": t[1], "c": t[2]}


FAMILIES: dict[str, Family] = {
    "logistic": Family(
        "logistic",
        _logistic,
        _logistic_bounds,
        _logistic_starts,
        lambda t: np.array([math.log(t[3] / 1.0)]),
        _logistic_public,
    ),
    "power": Family(
        "power",
        _power,
        _power_bounds,
        _power_starts,
        lambda t: np.array([math.log(t[2] / 0.5)]),
        _power_public,
    ),
}


def value_bounds(y: np.ndarray) -> tuple[float, float]:
    """Where a metric can lie: [0, 1] or [0, 100] when the data looks like a fraction or a percent."""
    lo, hi = float(np.min(y)), float(np.max(y))
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= 0.0 and hi <= 100.0 and hi > 1.0:
        return 0.0, 100.0
    span = max(hi - lo, 1e-6 * max(abs(hi), 1.0))
    return lo - 3.0 * span, hi + 3.0 * span


def fit_family(
    family: Family, u: np.ndarray, y: np.ndarray, vb: tuple[float, float], prior_weight: float
) -> np.ndarray:
    """Best parameters of ``family`` on points ``(u, y)`` over several starts (bounded, robust)."""
    lower, upper = family.bounds(vb, u)
    scale = max(float(np.std(y)), 1e-3 * max(vb[1] - vb[0], 1e-9))
    eps = 1e-9 * (upper - lower)

    def residuals(t: np.ndarray) -> np.ndarray:
        data = (family.predict(u, t) - y) / scale
        return np.concatenate([data, prior_weight * family.prior(t)])

    best, best_cost = None, math.inf
    for start in family.starts(u, y, vb):
        x0 = np.clip(start, lower + eps, upper - eps)
        try:
            sol = least_squares(residuals, x0, bounds=(lower, upper), method="trf", max_nfev=400)
        except (ValueError, FloatingPointError):
            continue
        if np.all(np.isfinite(sol.x)) and sol.cost < best_cost:
            best, best_cost = sol.x, sol.cost
    if best is None:  # every start failed: the start itself is a valid (if crude) curve
        best = np.clip(family.starts(u, y, vb)[0], lower + eps, upper - eps)
    return best
