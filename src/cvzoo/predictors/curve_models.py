"""Learning-curve families and their bounded, multi-start least-squares fit in log(size).

- ``logistic`` (4 parameters, equivalent to MMF4): ``c + (a - c) / (1 + (x / x0) ** d)``,
- ``power`` (3 parameters): ``a - b * x ** (-c)``.

Both are constrained to be monotone in the direction the data moves, and carry a weak prior on
their shape and on how far the asymptote lies from the last observed value, so that fits on 3-4
points (or on noisy, non-monotone curves) stay sane.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

PRIOR_WEIGHT = 0.1
ASYM_WEIGHT = 0.3
LOSS = "linear"


@dataclass(frozen=True)
class Family:
    """A curve family: prediction in log-size, parameter bounds, starts and a weak shape prior.

    ``sign`` (+1 or -1) is the direction in which the metric moves with more data; the internal
    parameters are bounded so that the fitted curve is monotone in that direction.
    """

    name: str
    predict: Callable[[np.ndarray, np.ndarray], np.ndarray]
    bounds: Callable[[tuple[float, float], np.ndarray, float], tuple[np.ndarray, np.ndarray]]
    starts: Callable[[np.ndarray, np.ndarray, tuple[float, float], float], list[np.ndarray]]
    prior: Callable[[np.ndarray], np.ndarray]
    public: Callable[[np.ndarray], dict[str, float]]
    asymptote: Callable[[np.ndarray], float]


def _logistic(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``c + (a - c) / (1 + exp(d * (u - u0)))`` with internal ``t = (c, a - c, u0, d)``."""
    c, gap, u0, d = t
    z = np.clip(d * (u - u0), -60.0, 60.0)
    return c + gap / (1.0 + np.exp(z))


def _logistic_bounds(vb: tuple[float, float], u: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Asymptote inside the value bounds, ``a - c`` of the opposite sign to the trend."""
    lo, hi = vb
    gap = (0.0, hi - lo) if sign < 0 else (lo - hi, 0.0)
    return (
        np.array([lo, gap[0], u.min() - 8.0, 0.05]),
        np.array([hi, gap[1], u.max() + 8.0, 6.0]),
    )


def _trend(u: np.ndarray, y: np.ndarray, vb: tuple[float, float]) -> tuple[float, float]:
    """The value at the smallest size and the span to the largest (floored at 1e-3 of the range)."""
    first, last = y[np.argmin(u)], y[np.argmax(u)]
    return first, max(abs(last - first), 1e-3 * (vb[1] - vb[0]))


def _beyond_last(u: np.ndarray, y: np.ndarray, vb: tuple[float, float], step: float) -> float:
    """A start for the asymptote: the value at the largest size moved by ``step``, within bounds."""
    return float(np.clip(y[np.argmax(u)] + step, *vb))


def _logistic_starts(u: np.ndarray, y: np.ndarray, vb: tuple[float, float], sign: float) -> list[np.ndarray]:
    """Starts spread over where the inflection and the asymptote may be."""
    first, span = _trend(u, y, vb)
    starts = []
    for gain in (0.3, 1.5):
        c = _beyond_last(u, y, vb, sign * gain * span)
        gap = first - sign * 0.5 * span - c
        for u0 in (u.min(), 0.5 * (u.min() + u.max()), u.max() + 1.0):
            starts.append(np.array([c, gap, u0, 1.0]))
    return starts


def _logistic_public(t: np.ndarray) -> dict[str, float]:
    """User-facing parameters ``a, c, x0, d``."""
    return {"a": t[0] + t[1], "c": t[0], "x0": math.exp(t[2]), "d": t[3]}


def _power(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``a - b * exp(-c * u)`` with ``t = (a, b, c)``."""
    a, b, c = t
    return a - b * np.exp(np.clip(-c * u, -60.0, 60.0))


def _power_bounds(vb: tuple[float, float], u: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Asymptote inside the value bounds; ``b`` of the trend's sign, large enough for any start."""
    lo, hi = vb
    scale = (hi - lo) * math.exp(3.0 * max(u.min(), 0.0)) + 1.0
    b = (0.0, scale) if sign > 0 else (-scale, 0.0)
    return np.array([lo, b[0], 0.01]), np.array([hi, b[1], 3.0])


def _power_starts(u: np.ndarray, y: np.ndarray, vb: tuple[float, float], sign: float) -> list[np.ndarray]:
    """Starts with several exponents and asymptotes beyond the last value."""
    first, span = _trend(u, y, vb)
    starts = []
    for gain in (0.2, 1.0):
        a = _beyond_last(u, y, vb, sign * gain * span)
        for c in (0.15, 0.6):
            starts.append(np.array([a, (a - first) * math.exp(c * u.min()), c]))
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
        lambda t: np.array([math.log(t[3])]),
        _logistic_public,
        lambda t: float(t[0]),
    ),
    "power": Family(
        "power",
        _power,
        _power_bounds,
        _power_starts,
        lambda t: np.array([math.log(t[2] / 0.5)]),
        _power_public,
        lambda t: float(t[0]),
    ),
}


def trend_sign(u: np.ndarray, y: np.ndarray) -> float:
    """+1 when the metric rises with log-size overall (least-squares slope), else -1."""
    du = u - u.mean()
    return 1.0 if float(np.dot(du, y - y.mean())) >= 0.0 else -1.0


def value_bounds(y: np.ndarray) -> tuple[float, float]:
    """Where a metric can lie: [0, 1] or [0, 100] when the data looks like a fraction or percent."""
    lo, hi = float(np.min(y)), float(np.max(y))
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= 0.0 and hi <= 100.0 and hi > 1.0:
        return 0.0, 100.0
    span = max(hi - lo, 1e-6 * max(abs(hi), 1.0))
    return lo - 3.0 * span, hi + 3.0 * span


def fit_family(
    family: Family,
    u: np.ndarray,
    y: np.ndarray,
    vb: tuple[float, float],
    prior_weight: float = PRIOR_WEIGHT,
    loss: str = LOSS,
    asym_weight: float = ASYM_WEIGHT,
) -> np.ndarray:
    """Best parameters of ``family`` on points ``(u, y)`` over several starts (bounded, robust)."""
    sign = trend_sign(u, y)
    lower, upper = family.bounds(vb, u, sign)
    scale = max(float(np.std(y)), 1e-3 * max(vb[1] - vb[0], 1e-9))
    eps = 1e-9 * (upper - lower)

    last = float(np.mean(y[u == u.max()]))

    def residuals(t: np.ndarray) -> np.ndarray:
        data = (family.predict(u, t) - y) / scale
        gain = (family.asymptote(t) - last) / scale
        prior = np.append(family.prior(t), asym_weight * gain)
        return np.concatenate([data, prior_weight * prior])

    best, best_cost = None, math.inf
    for start in family.starts(u, y, vb, sign):
        x0 = np.clip(start, lower + eps, upper - eps)
        try:
            sol = least_squares(residuals, x0, bounds=(lower, upper), method="trf", loss=loss, max_nfev=300)
        except (ValueError, FloatingPointError):
            continue
        if np.all(np.isfinite(sol.x)) and sol.cost < best_cost:
            best, best_cost = sol.x, sol.cost
    if best is None:  # every start failed: the start itself is a valid (if crude) curve
        best = np.clip(family.starts(u, y, vb, sign)[0], lower + eps, upper - eps)
    return best
