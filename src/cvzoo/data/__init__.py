"""Datasets: each config in ``configs/dataset/`` names a loader here through ``_target_``.

A loader is a function ``load(cfg) -> DatasetSplits`` taking the whole dataset config. Items are
``(image, target)`` with ``image`` a uint8 ``(3, H, W)`` tensor at ``cfg.image_size`` and
``target`` a class index (classification) or a ``(H, W)`` int64 mask (segmentation).
Images stay uint8 until they reach the training device (smaller transfers, one home for
scaling and normalization).
"""

from cvzoo.data.splits import DatasetSplits, build_splits

__all__ = ["DatasetSplits", "build_splits"]
