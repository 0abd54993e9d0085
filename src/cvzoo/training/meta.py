"""Dataset meta-features for the run record (used by the boosting predictor), cached per dataset."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cvzoo.data import DatasetSplits
from cvzoo.predictors.metafeatures import dataset_meta_features
from cvzoo.results import config_hash
from cvzoo.tasks import get_task

log = logging.getLogger(__name__)
SAMPLE = 300


def _sample_arrays(splits: DatasetSplits, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack a random sample of training items into image and target arrays."""
    n = len(splits.train)
    picks = np.random.default_rng(seed).permutation(n)[: min(n, SAMPLE)]
    items = [splits.train[int(i)] for i in picks]
    images = torch.stack([image for image, _ in items]).numpy()
    task = get_task(splits.task)
    targets = torch.stack([task.meta_target(image, t) for image, t in items]).numpy()
    return images, targets


def dataset_meta(
    splits: DatasetSplits, dataset_cfg: Mapping[str, Any], cache_dir: str | Path
) -> dict[str, Any]:
    """Meta-features of the training split, read from or written to ``cache_dir``."""
    key = config_hash({k: v for k, v in dataset_cfg.items() if k not in ("batch_size", "num_workers")})
    path = Path(cache_dir) / f"meta-{dataset_cfg.get('name')}-{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    images, targets = _sample_arrays(splits, int(dataset_cfg.get("split_seed", 0)))
    meta = dataset_meta_features(
        images, targets, splits.task, splits.num_classes, splits.ignore_index, num_images=len(splits.train)
    )
    meta = {k: (float(v) if v is not None and np.isfinite(v) else None) for k, v in meta.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)
    except OSError as err:  # a read-only data dir only costs the cache
        log.warning("could not cache dataset meta-features in %s: %s", path, err)
    return meta
