"""The guided search's settings, defined once.

``configs/hydra/sweeper/guided.yaml`` (checked by a test), the Hydra sweeper, ``GuidedSearch``
and ``cvzoo simulate`` take their defaults from ``GuidedKnobs``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from cvzoo.errors import ConfigError
from cvzoo.search.fidelity import FidelityConfig

# What one unit of the budget buys: whole runs, or epochs (configurations trained in stages).
FIDELITIES = ("runs", "epochs")


@dataclass(frozen=True)
class GuidedKnobs:
    """Settings of one guided search (``hydra.sweeper.*``); the defaults are the sweeper's."""

    budget: float | int = 0.3  # a share in (0, 1] of the grid's runs (epochs), or a number >= 1
    fidelity: str = "runs"  # runs: whole runs; epochs: start short, continue the promising
    min_epochs: int = FidelityConfig.min_epochs  # fidelity=epochs: length of the first stage
    eta: float = FidelityConfig.eta  # fidelity=epochs: growth factor from one stage to the next
    stop_threshold: float = 0.05  # stop when P(an untrained cell beats the best) falls below
    batch_size: int | None = None  # cells per batch; None = the launcher's parallelism
    acquisition: str = "ei"  # ei (expected improvement) or ucb (mean + kappa * std)
    kappa: float = 2.0
    method: str = "auto"  # quality model: auto, bias, als, boost (as cvzoo complete)
    full_design: bool = True  # keep the whole covering design when it leaves >= 1 guided run
    init_share: float = 0.25  # otherwise cut the design to this share of the budget
    use_earlier: bool = True  # seed the model with ok records of identical configs
    meta_features: bool = True  # log params/FLOPs of the records as row/column features
    seed: int = 0  # the search's own randomness (design order, ties)
    params: dict | None = None  # swept axes given in config instead of on the command line

    @classmethod
    def from_options(cls, **options: object) -> GuidedKnobs:
        """Knobs from keyword options; an unknown key is a one-line ConfigError naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown guided sweeper option {unknown[0]!r}; known: {', '.join(sorted(known))}"
            )
        return cls(**options)

    def __post_init__(self) -> None:
        if self.fidelity not in FIDELITIES:
            raise ConfigError(
                f"hydra.sweeper.fidelity={self.fidelity!r} is unknown; use one of {', '.join(FIDELITIES)}"
            )
        if isinstance(self.budget, bool) or not isinstance(self.budget, int | float) or self.budget <= 0:
            raise ConfigError(
                f"hydra.sweeper.budget={self.budget!r} is not a positive number; use a share in (0, 1] "
                f"of the grid (0.3) or a number of {'epochs' if self.fidelity == 'epochs' else 'runs'}"
            )
        self.fidelity_config()

    def fidelity_config(self) -> FidelityConfig:
        """The epoch schedule (min_epochs, eta) these knobs ask for."""
        try:
            min_epochs, eta = int(self.min_epochs), float(self.eta)
        except (TypeError, ValueError):
            raise ConfigError(
                f"hydra.sweeper.min_epochs={self.min_epochs!r} / eta={self.eta!r} must be numbers "
                "(e.g. min_epochs=1 eta=3)"
            ) from None
        try:
            return FidelityConfig(min_epochs, eta)
        except ConfigError as err:
            raise ConfigError(f"hydra.sweeper.{err}") from None

    def search_options(self) -> dict:
        """The keyword options ``GuidedSearch`` takes from these knobs."""
        names = ("stop_threshold", "acquisition", "kappa", "method", "full_design", "init_share")
        return {k: v for k, v in asdict(self).items() if k in names}


DEFAULTS = GuidedKnobs()
