"""From logits to answers: softmax, top-k labels with the reject option, per-pixel masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNKNOWN = "unknown"


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (classes)."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted, dtype=np.float64)
    return (exp / exp.sum(axis=axis, keepdims=True)).astype(np.float32)


def confidence(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max softmax probability and argmax class (per image, or per pixel for segmentation)."""
    probs = softmax(logits, axis=1)
    return probs.max(axis=1), probs.argmax(axis=1)


@dataclass
class Classification:
    """One image's answer: label (``unknown`` when rejected), its score and the top-k classes."""

    label: str
    score: float
    topk: list[tuple[str, float]]
    rejected: bool


def classify(
    logits: np.ndarray, class_names: Sequence[str], topk: int = 5, threshold: float | None = None
) -> list[Classification]:
    """Top-k classes per image; below ``threshold`` (max softmax) the label is ``unknown``."""
    probs = softmax(logits, axis=1)
    k = max(1, min(int(topk), probs.shape[1]))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    answers = []
    for row, best in zip(probs, order):
        top = [(str(class_names[i]), float(row[i])) for i in best]
        rejected = threshold is not None and top[0][1] < threshold
        answers.append(Classification(UNKNOWN if rejected else top[0][0], top[0][1], top, rejected))
    return answers


def segment(
    logits: np.ndarray, threshold: float | None = None, ignore_index: int = 255
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel class masks ``(N, H, W)`` (``ignore_index`` where rejected) and per-pixel confidence."""
    conf, mask = confidence(logits)
    if threshold is not None:
        mask = np.where(conf < threshold, ignore_index, mask)
    return mask.astype(np.int64), conf
