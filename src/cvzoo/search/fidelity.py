"""Epochs as fidelity: the rung schedule and the ledger that spends an epoch budget on curves.

A configuration is trained in stages to the rungs ``min_epochs * eta**k`` and finally to the full
length; continuing one resumes it, so no epoch is paid for twice. The ledger is the replay's
stand-in for training: it reveals a curve's values epoch by epoch and charges each epoch once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvzoo.errors import ConfigError


@dataclass(frozen=True)
class FidelityConfig:
    """Knobs of the epoch schedule: the first stage's length and the growth factor per stage."""

    min_epochs: int = 1
    eta: float = 3.0

    def __post_init__(self) -> None:
        if self.min_epochs < 1:
            raise ConfigError(f"min_epochs={self.min_epochs} must be >= 1")
        if self.eta <= 1:
            raise ConfigError(f"eta={self.eta} must be > 1 (e.g. 3)")

    def rungs(self, max_epochs: int) -> list[int]:
        """Epochs at which a configuration's progress is judged: min_epochs * eta**k, then the end."""
        out, epoch = [], float(self.min_epochs)
        while round(epoch) < max_epochs:
            if not out or round(epoch) > out[-1]:
                out.append(int(round(epoch)))
            epoch *= self.eta
        return [*out, int(max_epochs)]


class Ledger:
    """Trains configurations of a replay within an epoch budget and remembers what was seen."""

    def __init__(self, curves: list[np.ndarray], budget: int) -> None:
        self.best_so_far = [np.maximum.accumulate(np.asarray(c, float)) for c in curves]
        self.lengths = np.array([c.size for c in curves])
        self.epochs = np.zeros(len(curves), int)
        self.budget = int(budget)
        self.used = 0

    @property
    def left(self) -> int:
        """Epochs left in the budget."""
        return self.budget - self.used

    def complete(self, i: int) -> bool:
        """True once configuration ``i`` has reached the end of its curve."""
        return bool(self.epochs[i] >= self.lengths[i])

    def train(self, i: int, to_epoch: int) -> int:
        """Train ``i`` up to ``to_epoch`` (capped by its curve's end and the budget); epochs paid."""
        target = min(int(to_epoch), int(self.lengths[i]), int(self.epochs[i]) + self.left)
        paid = max(0, target - int(self.epochs[i]))
        self.epochs[i] += paid
        self.used += paid
        return paid

    def value(self, i: int, epoch: int | None = None) -> float:
        """Best value of ``i`` up to ``epoch`` (default: as far as trained); NaN when untrained."""
        reached = int(self.epochs[i]) if epoch is None else min(int(epoch), int(self.epochs[i]))
        return float(self.best_so_far[i][reached - 1]) if reached > 0 else float("nan")

    def observed(self) -> np.ndarray:
        """Best value so far of every configuration (NaN for those never trained)."""
        return np.array([self.value(i) for i in range(self.epochs.size)])

    def winner(self) -> int:
        """The configuration with the best value seen so far (the one a user would keep)."""
        seen = self.observed()
        if not np.isfinite(seen).any():
            raise ConfigError("the budget was spent before any epoch was trained; raise the budget")
        return int(np.nanargmax(seen))
