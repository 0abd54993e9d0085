"""What a partial learning curve says about its final value, learned from the other curves.

Values are judged at rungs (see ``FidelityConfig.rungs``). For each step from rung k to rung
k + 1 a linear map ``Y[k+1] = a + b * Y[k] + noise`` is fitted on the configurations already
trained past rung k (values are best-so-far, so the map never predicts a drop); chaining the maps
extrapolates a configuration from its last rung to the full length, with a predictive variance
that includes the uncertainty of the fitted maps. A step too few configurations have taken yet
borrows the nearest fitted step (rungs are geometric, so a step is a like share of the curve in
log-epochs); before any step is fitted a curve keeps its value (b = 1) with an uncertainty equal
to the spread of values between configurations at that rung: without evidence, a curve may
still move as far as configurations differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_REFERENCES = 3  # configurations needed to fit a step's linear map (two parameters + noise)


@dataclass(frozen=True)
class Step:
    """The fitted map from one rung's value to the next's, with its predictive variance."""

    intercept: float
    slope: float
    noise2: float
    n: int = 0
    x_mean: float = 0.0
    sxx: float = 0.0

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the next rung's value for current values ``x``."""
        mean = np.maximum(self.intercept + self.slope * x, x)
        if self.n == 0:
            return mean, np.full_like(x, self.noise2)
        lever = 1 / self.n + (x - self.x_mean) ** 2 / max(self.sxx, 1e-12)
        return mean, self.noise2 * (1 + lever)


def fit_step(x: np.ndarray, y: np.ndarray, spread2: float) -> Step:
    """The map from ``x`` (values at a rung) to ``y`` (the next rung) over reference curves."""
    if x.size < MIN_REFERENCES or np.ptp(x) <= 0:
        gain = float(np.mean(y - x)) if x.size else 0.0
        return Step(gain, 1.0, max(spread2, 1e-12))
    x_mean, sxx = float(x.mean()), float(((x - x.mean()) ** 2).sum())
    slope = max(0.0, float(((x - x_mean) * (y - y.mean())).sum() / sxx))
    intercept = float(y.mean() - slope * x_mean)
    resid = y - intercept - slope * x
    noise2 = max(float(resid @ resid) / max(x.size - 2, 1), 1e-12 * max(spread2, 1e-12))
    return Step(intercept, slope, noise2, x.size, x_mean, sxx)


def rung_values(values: list[np.ndarray], complete: np.ndarray, rungs: list[int]) -> np.ndarray:
    """(n, K) best-so-far value of every configuration at every rung (NaN: not reached yet)."""
    out = np.full((len(values), len(rungs)), np.nan)
    for i, v in enumerate(values):
        for k, r in enumerate(rungs):
            if v.size >= r or (complete[i] and v.size):
                out[i, k] = v[min(r, v.size) - 1]
    return out


def fit_steps(levels: np.ndarray, trained: np.ndarray, rungs: list[int]) -> list[Step]:
    """One map per step between rungs, from configurations trained past the step's start."""
    steps, gains, spread2 = [], [], 0.0
    for k in range(len(rungs) - 1):
        at_k = levels[:, k][np.isfinite(levels[:, k])]
        if at_k.size >= MIN_REFERENCES or k == 0:  # else keep the spread of the rung below
            spread2 = float(at_k.var()) if at_k.size > 1 else 0.0
        ref = np.isfinite(levels[:, k + 1]) & (trained > rungs[k])
        steps.append(fit_step(levels[ref, k], levels[ref, k + 1], spread2))
        gains.append(levels[ref, k + 1] - levels[ref, k])
    fitted = [k for k, step in enumerate(steps) if step.n]
    for k, step in enumerate(steps):  # an untaken step gains like the nearest fitted one
        if not step.n and fitted:
            g = gains[min(fitted, key=lambda j: abs(j - k))]
            steps[k] = Step(float(g.mean()), 1.0, max(float(g.var(ddof=1)), 1e-12))
    return steps


def chain(steps: list[Step], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance after applying ``steps`` in turn to values ``x`` (known exactly)."""
    m, v = np.asarray(x, float), np.zeros(np.shape(x))
    for step in steps:
        nxt, noise = step.predict(m)
        v = step.slope**2 * v + noise
        m = nxt
    return m, v


def last_rung(levels: np.ndarray) -> np.ndarray:
    """Index of the last rung each configuration has reached (-1: not started)."""
    return np.where(np.isfinite(levels), np.arange(levels.shape[1]), -1).max(axis=1)


def extrapolate(levels: np.ndarray, complete: np.ndarray, steps: list[Step]) -> tuple:
    """Mean and variance of every started configuration's final value (NaN: not started)."""
    n = levels.shape[0]
    mean, var = np.full(n, np.nan), np.full(n, np.nan)
    reached = last_rung(levels)
    for k in np.unique(reached[reached >= 0]):
        group = np.flatnonzero(reached == k)
        x = levels[group, k]
        done = complete[group]
        m, v = chain(steps[k:], x)
        mean[group], var[group] = np.where(done, x, m), np.where(done, 0.0, v)
    return mean, var
