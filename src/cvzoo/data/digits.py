"""``digits``: the real handwritten digits that ship inside scikit-learn (no download), upscaled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from cvzoo.data.memory import TensorImageDataset, resize_uint8
from cvzoo.data.splits import DatasetSplits, make_splits


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Load the 1,797 8x8 digits as RGB uint8 images at ``cfg.image_size``."""
    bunch = load_digits()
    pixels = np.asarray(bunch.images, dtype=np.float32) * (255.0 / 16.0)
    gray = torch.from_numpy(pixels.round().astype(np.uint8)).unsqueeze(1)
    images = resize_uint8(gray, int(cfg["image_size"])).expand(-1, 3, -1, -1).contiguous()
    labels = np.asarray(bunch.target, dtype=np.int64)
    dataset = TensorImageDataset(images, torch.from_numpy(labels))
    train, val, test = make_splits(dataset, labels, cfg)
    names = [str(n) for n in bunch.target_names]
    return DatasetSplits(train, val, test, class_names=names, task="classification")
