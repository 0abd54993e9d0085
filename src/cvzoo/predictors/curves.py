"""Learning curves: fit metric-vs-size points, extrapolate with intervals, size for a target.

The family (``logistic`` or ``power``, see ``curve_models``) is chosen by leave-last-out error: fit
on all but the largest size, predict it. Intervals combine the noise around the fit, the two
families' disagreement and the leave-last-out error scaled by the extrapolation distance, so they
widen the further a prediction lies from the data (about 90 % coverage on LCDB curves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cvzoo.errors import DataError
from cvzoo.predictors.curve_models import FAMILIES, fit_family, trend_sign, value_bounds

MIN_SIZES = 3
MAX_LOG_SIZE = 50.0  # sizes searched for a target: 1 .. e^50
Z_INTERVAL = 1.645  # two-sided 90 %
STEP_INFLATION = 1.5  # leave-last-out error understates longer extrapolations (LCDB: 90 % cover)
MIN_STEP = math.log(2.0)  # dense grids: count extrapolation in doublings at least


def _check_points(sizes: np.ndarray, metrics: np.ndarray) -> None:
    """Raise a one-line ``DataError`` unless the points can carry a curve."""
    if sizes.shape != metrics.shape or sizes.ndim != 1:
        raise DataError("sizes and metrics must be two 1-D arrays of the same length")
    if not (np.all(np.isfinite(sizes)) and np.all(np.isfinite(metrics))):
        raise DataError("learning-curve points must be finite numbers; drop rows with NaN or inf")
    if np.any(sizes <= 0):
        raise DataError(f"training-set sizes must be positive, got {sizes.min():g}")
    distinct = np.unique(sizes).size
    if sizes.size < MIN_SIZES or distinct < MIN_SIZES:
        raise DataError(
            f"need at least {MIN_SIZES} points at {MIN_SIZES} different training-set sizes, "
            f"got {sizes.size} points at {distinct} sizes; add runs at more dataset.fraction values"
        )


def _fit_all(u: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Fit every family on ``(u, y)``."""
    vb = value_bounds(y)
    return {name: fit_family(fam, u, y, vb) for name, fam in FAMILIES.items()}


def _leave_last_out(u: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Error of each family predicting the mean metric at the largest size from the rest."""
    last = u == u.max()
    fits = _fit_all(u[~last], y[~last])
    truth = float(np.mean(y[last]))
    return {n: abs(float(FAMILIES[n].predict(np.array([u.max()]), t)[0]) - truth) for n, t in fits.items()}


@dataclass
class LearningCurve:
    """A fitted learning curve: the chosen family, its parameters and its interval ingredients.

    The interval half-width at size ``x`` is ``z`` times the root of the sum of squares of the noise
    around the fit, the disagreement between the two families, and the leave-last-out error
    multiplied by how many leave-last-out steps (in log-size) ``x`` lies outside the data.
    """

    model: str
    fits: dict[str, np.ndarray]
    loo_errors: dict[str, float]
    sizes: np.ndarray
    metrics: np.ndarray
    bounds: tuple[float, float]
    noise: float
    step: float
    sign: float

    @property
    def params(self) -> dict[str, float]:
        """User-facing parameters of the chosen family."""
        return {k: float(v) for k, v in FAMILIES[self.model].public(self.fits[self.model]).items()}

    @property
    def asymptote(self) -> float:
        """The metric the chosen curve tends to with unlimited data."""
        return FAMILIES[self.model].asymptote(self.fits[self.model])

    def _raw(self, name: str, sizes: np.ndarray) -> np.ndarray:
        """Prediction of one family, clipped to the value bounds."""
        u = np.log(np.maximum(np.asarray(sizes, float), 1e-12))
        return np.clip(FAMILIES[name].predict(u, self.fits[name]), *self.bounds)

    def predict(self, sizes: np.ndarray) -> np.ndarray:
        """Metric predicted by the chosen family at ``sizes``."""
        return self._raw(self.model, sizes)

    def std(self, sizes: np.ndarray) -> np.ndarray:
        """Standard deviation of the prediction at ``sizes`` (grows with extrapolation distance)."""
        sizes = np.asarray(sizes, float)
        u, grid = np.log(np.maximum(sizes, 1e-12)), np.log(np.unique(self.sizes))
        right = max(grid[-1] - grid[-2], MIN_STEP)
        left = max(grid[1] - grid[0], MIN_STEP)
        steps = np.maximum(u - grid[-1], 0.0) / right + np.maximum(grid[0] - u, 0.0) / left
        spread = np.abs(self._raw("logistic", sizes) - self._raw("power", sizes)) / 2.0
        return np.sqrt(self.noise**2 + spread**2 + (self.step * steps) ** 2)

    def interval(self, sizes: np.ndarray, z: float = Z_INTERVAL) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends of the prediction interval at ``sizes``, within the bounds."""
        mid, half = self.predict(sizes), z * self.std(sizes)
        return np.clip(mid - half, *self.bounds), np.clip(mid + half, *self.bounds)


def fit_curve(sizes, metrics) -> LearningCurve:
    """Fit both families, choose one by leave-last-out error and size its intervals."""
    sizes, metrics = np.asarray(sizes, float), np.asarray(metrics, float)
    _check_points(sizes, metrics)
    order = np.argsort(sizes, kind="stable")
    sizes, metrics = sizes[order], metrics[order]
    u = np.log(sizes)
    fits = _fit_all(u, metrics)
    loo = _leave_last_out(u, metrics)
    model = min(loo, key=lambda name: (loo[name], name != "power"))
    vb = value_bounds(metrics)
    resid = FAMILIES[model].predict(u, fits[model]) - metrics
    n, p = metrics.size, fits[model].size
    noise = float(np.sqrt(np.mean(resid**2) * n / max(n - p, 1)))
    step = STEP_INFLATION * max(loo[model], noise)
    sign = trend_sign(u, metrics)
    return LearningCurve(model, fits, loo, sizes, metrics, vb, noise, step, sign)


@dataclass
class TargetSize:
    """Training-set size at which the curve reaches a target (``high`` None: unbounded)."""

    reachable: bool
    asymptote: float
    size: float | None = None
    low: float | None = None
    high: float | None = None


def _first_crossing(u: np.ndarray, gap: np.ndarray) -> float | None:
    """Log-size where ``gap`` (signed distance past the target) first becomes >= 0, else None."""
    hit = np.nonzero(gap >= 0.0)[0]
    if hit.size == 0:
        return None
    i = int(hit[0])
    if i == 0:
        return float(u[0])
    frac = -gap[i - 1] / (gap[i] - gap[i - 1])
    return float(u[i - 1] + frac * (u[i] - u[i - 1]))


def size_for_target(curve: LearningCurve, target: float) -> TargetSize:
    """Smallest training-set size whose predicted metric reaches ``target``, with an interval.

    "Reaching" follows the direction the data moves in (up for accuracy, down for a loss). The
    interval ends are where the optimistic and pessimistic interval bands cross the target.
    """
    asym = curve.asymptote
    if curve.sign * (asym - target) <= 0.0:
        return TargetSize(False, asym)
    u = np.linspace(0.0, MAX_LOG_SIZE, 4000)
    sizes = np.exp(u)
    low, high = curve.interval(sizes)
    optimistic, pessimistic = (high, low) if curve.sign > 0 else (low, high)
    ends = [
        _first_crossing(u, curve.sign * (band - target))
        for band in (curve.predict(sizes), optimistic, pessimistic)
    ]
    if ends[0] is None:  # approaches the target beyond the grid: report the grid's end
        ends[0] = MAX_LOG_SIZE
    point, lo, hi = (None if e is None else float(math.exp(e)) for e in ends)
    lo = point if lo is None else min(lo, point)
    hi = None if hi is None else max(hi, point)
    return TargetSize(True, asym, point, lo, hi)
