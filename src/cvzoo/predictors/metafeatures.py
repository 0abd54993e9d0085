"""Dataset meta-features: a few cheap numbers that describe a vision dataset for the booster.

Computed on a sample of at most ``MAX_SAMPLE`` images so it stays fast; the training side
caches the result per dataset and stores it in every record as ``dataset_meta``.
"""

from __future__ import annotations

import math

import numpy as np

from cvzoo.errors import DataError
from cvzoo.tasks import TASKS

MAX_SAMPLE = 500


def _to_nhwc(images: np.ndarray) -> np.ndarray:
    """Images as float (N, H, W, C) in [0, 1]; (N, C, H, W) and (N, H, W) are accepted."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise DataError(f"images must be (N, H, W, C) or (N, C, H, W), got shape {arr.shape}")
    if arr.shape[1] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = arr.transpose(0, 2, 3, 1)
    scale = 255.0 if arr.dtype == np.uint8 or arr.max(initial=0) > 1.5 else 1.0
    return arr.astype(np.float32) / scale


def _colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness (on 0-255 scale), averaged over images; 0 for grey."""
    if rgb.shape[-1] < 3:
        return 0.0
    r, g, b = (rgb[..., k] * 255.0 for k in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    axes = (1, 2)
    std = np.sqrt(rg.std(axis=axes) ** 2 + yb.std(axis=axes) ** 2)
    mean = np.sqrt(rg.mean(axis=axes) ** 2 + yb.mean(axis=axes) ** 2)
    return float(np.mean(std + 0.3 * mean))


def _class_counts(targets: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    """How often each class occurs (labels for classification, pixels for segmentation)."""
    flat = np.asarray(targets).reshape(-1).astype(np.int64)
    flat = flat[(flat != ignore_index) & (flat >= 0) & (flat < num_classes)]
    return np.bincount(flat, minlength=num_classes).astype(float)


def _imbalance(counts: np.ndarray) -> tuple[float, float]:
    """Normalized entropy of the class distribution (1 = balanced) and max/min count ratio."""
    total = counts.sum()
    if total == 0 or counts.size < 2:
        return 1.0, 1.0
    p = counts[counts > 0] / total
    entropy = float(-(p * np.log(p)).sum() / math.log(counts.size))
    present = counts[counts > 0]
    return entropy, float(present.max() / present.min())


def _sample(n: int, seed: int) -> np.ndarray:
    """Indices of at most ``MAX_SAMPLE`` images, spread at random."""
    if n <= MAX_SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, MAX_SAMPLE, replace=False))


def dataset_meta_features(
    images: np.ndarray,
    targets: np.ndarray,
    task: str,
    num_classes: int,
    ignore_index: int = 255,
    num_images: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Meta-features of a dataset from (a sample of) its images and targets.

    ``num_images`` is the dataset's full size when ``images`` is already a sample.
    """
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    if len(images) == 0 or len(images) != len(targets):
        raise DataError(f"need as many targets as images, got {len(images)} and {len(targets)}")
    pick = _sample(len(images), seed)
    pixels = _to_nhwc(np.asarray(images)[pick])
    rgb = pixels[..., :3]
    grey = rgb.mean(axis=-1)
    counts = _class_counts(np.asarray(targets)[pick], num_classes, ignore_index)
    entropy, ratio = _imbalance(counts)
    features = {
        "num_images": float(num_images if num_images is not None else len(images)),
        "num_classes": float(num_classes),
        "task": TASKS[task].metafeature_code,
        "image_height": float(rgb.shape[1]),
        "image_width": float(rgb.shape[2]),
        "channels": float(pixels.shape[-1]),
        "brightness_mean": float(grey.mean()),
        "brightness_std": float(grey.std()),
        "contrast": float(grey.std(axis=(1, 2)).mean()),
        "colourfulness": _colourfulness(rgb),
        "class_entropy": entropy,
        "class_imbalance_ratio": ratio,
        "object_fraction": float("nan"),
    }
    if task == "segmentation":
        labelled = counts.sum()
        features["object_fraction"] = float(counts[1:].sum() / labelled) if labelled else 0.0
    return features
