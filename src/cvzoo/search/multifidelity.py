"""Guided search paid in epochs: successive halving whose choices a model of the final value makes.

The skeleton is asynchronous successive halving (rungs and ``eta`` from ``FidelityConfig``): a
configuration goes on from rung k only while fewer than 1/eta of those that reached rung k have,
and only from that top 1/eta; otherwise a new configuration starts. Within it the model decides
wherever a held-out check (``trust``) shows that it orders configurations better than the rule
it replaces: the top 1/eta of a rung by predicted final instead of by value at the rung, and the
new configuration by expected improvement instead of at random. The model refits two parts each
decision: ``transfer`` turns every partial curve into a predicted final value with a variance,
and the factor model (``factors``) pools those over rows, columns and factor columns, so that
configurations never trained get a prediction. Once every configuration has started, the epochs
go to the highest expected improvement of the final value over the incumbent's, per epoch still
needed; each choice trains to the next rung only.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from cvzoo.search.acquisition import log_expected_improvement
from cvzoo.search.factors import FactorModel
from cvzoo.search.fidelity import FidelityConfig
from cvzoo.search.transfer import extrapolate, fit_steps, rung_values
from cvzoo.search.trust import Trust, check

# Refit the factor model's variance shares when the number of started configurations has grown
# by this factor since the last refit (in between, only the posterior is recomputed).
REFIT_GROWTH = 1.2


class EpochGuidedSearch:
    """Ask/tell driver over configurations trained in stages (values: higher is better)."""

    def __init__(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        max_epochs: int,
        factors: np.ndarray | None = None,
        fidelity: FidelityConfig | None = None,
        seed: int = 0,
    ) -> None:
        fidelity = fidelity or FidelityConfig()
        self.rungs = fidelity.rungs(int(max_epochs))
        self.eta = fidelity.eta
        self.max_epochs = int(max_epochs)
        n = len(rows)
        self.values: list[np.ndarray] = [np.zeros(0) for _ in range(n)]
        self.complete = np.zeros(n, bool)
        self.model = FactorModel(np.asarray(rows), np.asarray(cols), factors)
        self.rng = np.random.default_rng(seed)
        self._fitted_at = 0
        self.prediction: tuple[np.ndarray, np.ndarray] | None = None
        self._checked_at = 0
        self.trust = Trust()

    @property
    def epochs(self) -> np.ndarray:
        """Epochs each configuration has been trained for."""
        return np.array([v.size for v in self.values])

    def tell(self, i: int, values: np.ndarray, complete: bool) -> None:
        """Record configuration ``i``'s curve so far (best-so-far values) and whether it ended."""
        self.values[i] = np.maximum.accumulate(np.asarray(values, float))
        self.complete[i] = bool(complete) or self.values[i].size >= self.max_epochs

    def _posterior(
        self, values: list[np.ndarray], complete: np.ndarray, refit: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior mean and std of every final value from ``values``, and the curves' own
        extrapolated finals (NaN: not started)."""
        epochs = np.array([v.size for v in values])
        levels = rung_values(values, complete, self.rungs)
        mean, var = extrapolate(levels, complete, fit_steps(levels, epochs, self.rungs))
        started = np.flatnonzero(epochs > 0)
        post = self.model.fit(started, mean[started], var[started], refit=refit)
        return post.mean, post.std, mean

    def predict(self, refit: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of every configuration's final value (curve and factor model combined).

        ``refit`` re-chooses the factor model's variance shares (None: when the started
        configurations have grown by REFIT_GROWTH since the last choice).
        """
        started = int(np.sum(self.epochs > 0))
        if refit is None:
            refit = started >= REFIT_GROWTH * self._fitted_at or started < 3
        if refit:
            self._fitted_at = started
        mean, std, own = self._posterior(self.values, self.complete, refit)
        trained = int(self.epochs.sum())
        if trained >= REFIT_GROWTH * self._checked_at:  # the held-out checks, on the same schedule
            self._checked_at = trained
            self.trust = check(
                lambda v, c: self._posterior(v, c, False)[0],
                self.values, self.complete, self.levels(), self.rungs, own,
            )  # fmt: skip
        self.prediction = (mean, std)
        return self.prediction

    def incumbent(self) -> int | None:
        """The configuration with the best value seen so far (None before any epoch)."""
        best = [v[-1] if v.size else -np.inf for v in self.values]
        return int(np.argmax(best)) if np.isfinite(max(best)) else None

    def levels(self) -> np.ndarray:
        """Rung index each configuration has reached (-1: not started); an ended curve counts
        as having reached the rung its last stage was trained towards."""
        epochs, rungs = self.epochs, np.asarray(self.rungs)
        reached = np.searchsorted(rungs, epochs, side="right") - 1
        towards = np.minimum(np.searchsorted(rungs, epochs, side="left"), rungs.size - 1)
        return np.where(epochs == 0, -1, np.where(self.complete, towards, reached))

    def ask(self, refit: bool | None = None) -> tuple[int, int] | None:
        """The next (configuration, epoch to train it to); None when every curve has ended."""
        open_ = ~self.complete
        if not open_.any():
            return None
        epochs = self.epochs
        if not (epochs > 0).any():
            return int(self.rng.choice(np.flatnonzero(open_))), self.rungs[0]
        with threadpool_limits(1, user_api="blas"):  # small solves: threads only add contention
            mean, std = self.predict(refit)
        best = mean[self.incumbent()]  # the predicted final of the best configuration seen
        cost = np.maximum(self.max_epochs - epochs, 1)
        score = log_expected_improvement(mean, std, best) - np.log(cost)
        level = self.levels()
        for k in range(len(self.rungs) - 2, -1, -1):  # a promotion, highest rung first
            if (i := self._promotion(k, level, mean)) is not None:
                return i, self.rungs[k + 1]
        fresh = np.flatnonzero((level < 0) & open_)  # a failed start ended without an epoch
        if fresh.size:
            if not self.trust.start:  # the skeleton's rule: a new configuration at random
                return int(self.rng.choice(fresh)), self.rungs[0]
            return self._pick(fresh, score), self.rungs[0]
        i = self._pick(np.flatnonzero(open_), score)
        return i, next(r for r in self.rungs if r > epochs[i])

    def _promotion(self, k: int, level: np.ndarray, mean: np.ndarray) -> int | None:
        """Successive halving at rung ``k``: a configuration in the top 1/eta of those that
        reached it, by predicted final where the model has earned it, else by value at the rung."""
        members = np.flatnonzero(level >= k)
        top = int(members.size // self.eta)
        if top <= int(np.sum(level > k)):  # the rung's promotions are all taken
            return None
        if self.trust.promote.get(k, False):
            key = mean[members]
        else:
            key = np.array([self.values[i][min(self.rungs[k], self.values[i].size) - 1] for i in members])
        ranked = members[np.argsort(-key, kind="stable")[:top]]
        ready = ranked[(level[ranked] == k) & ~self.complete[ranked]]
        return int(ready[0]) if ready.size else None

    def _pick(self, candidates: np.ndarray, score: np.ndarray) -> int:
        """The candidate with the highest score (ties broken at random)."""
        top = candidates[np.flatnonzero(score[candidates] == score[candidates].max())]
        return int(self.rng.choice(top))
