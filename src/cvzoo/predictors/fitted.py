"""The result every quality predictor returns: a filled matrix with a per-cell std."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Completion:
    """A filled matrix with per-cell uncertainty and what the chosen model learned.

    ``std`` is the predictive spread of each untrained cell (0 on trained cells). When
    ``offsets_in_std`` is False it leaves out the error of the column centre (models fitted on
    per-column centred values); the guided search then adds it (``acquisition.search_std``).
    """

    mean: np.ndarray
    std: np.ndarray
    method: str
    cv_rmse: float
    row_embeddings: np.ndarray | None = None
    col_embeddings: np.ndarray | None = None
    loss_curve: list[float] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    offsets_in_std: bool = False
