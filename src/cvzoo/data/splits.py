"""Deterministic train/val/test splits, stratified training fractions, and the split container."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hydra.utils import get_method
from torch.utils.data import Dataset, Subset

from cvzoo.errors import ConfigError
from cvzoo.tasks import get_task


@dataclass
class DatasetSplits:
    """The three splits of one dataset and what the model needs to know about it."""

    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]
    task: str
    ignore_index: int = 255
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes (background included for segmentation)."""
        return len(self.class_names)


def check_fraction(fraction: Any) -> float:
    """Validate ``dataset.fraction`` (0 < f <= 1) and return it as a float."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"dataset.fraction={fraction!r} is out of range; use a value in (0, 1], e.g. 0.25")
    return value


def split_indices(
    n: int,
    labels: np.ndarray | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(n)`` into train/val/test, stratified by ``labels`` when given."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for group in groups:
        order = rng.permutation(group)
        n_test = int(round(len(order) * test_fraction))
        n_val = int(round(len(order) * val_fraction))
        parts[2].append(order[:n_test])
        parts[1].append(order[n_test : n_test + n_val])
        parts[0].append(order[n_test + n_val :])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test


def stratified_subset(
    indices: np.ndarray, labels: np.ndarray | None, fraction: float, seed: int
) -> np.ndarray:
    """Keep ``fraction`` of ``indices`` per class (at least one each), nested across fractions."""
    if fraction >= 1.0:
        return indices
    rng = np.random.default_rng(seed + 1)
    if labels is None:
        order = rng.permutation(indices)
        return np.sort(order[: max(1, math.ceil(len(order) * fraction))])
    kept = []
    for c in np.unique(labels[indices]):
        group = rng.permutation(indices[labels[indices] == c])
        kept.append(group[: max(1, math.ceil(len(group) * fraction))])
    return np.sort(np.concatenate(kept))


def make_splits(
    dataset: Dataset, labels: np.ndarray | None, cfg: Mapping[str, Any]
) -> tuple[Subset, Subset, Subset]:
    """Split one dataset by the config's val/test fractions, seed and training fraction."""
    seed = int(cfg.get("split_seed", 0))
    train, val, test = split_indices(
        len(dataset), labels, float(cfg["val_fraction"]), float(cfg["test_fraction"]), seed
    )
    train = stratified_subset(train, labels, check_fraction(cfg.get("fraction", 1.0)), seed)
    return (
        Subset(dataset, train.tolist()),
        Subset(dataset, val.tolist()),
        Subset(dataset, test.tolist()),
    )


def build_splits(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Validate the dataset config and call the loader its ``_target_`` names."""
    check_fraction(cfg.get("fraction", 1.0))
    get_task(str(cfg.get("task")))
    try:
        loader = get_method(str(cfg["_target_"]))
    except Exception as err:
        raise ConfigError(f"dataset._target_={cfg.get('_target_')!r} cannot be imported") from err
    splits = loader(cfg)
    if len(splits.train) == 0:
        raise ConfigError(f"dataset={cfg.get('name')} has an empty training split; raise dataset.fraction")
    return splits
