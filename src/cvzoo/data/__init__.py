"""Datasets: each config in ``configs/dataset/`` names a loader here through ``_target_``.

A loader is a function ``load(cfg) -> DatasetSplits`` taking the whole dataset config. Items are
``(image, target)`` with ``image`` a uint8 ``(3, S, S)`` tensor and ``target`` a class index
(classification) or an ``(S, S)`` int64 mask (segmentation). ``S`` is ``cfg.image_size``, or for
datasets read from files the cache size (``cfg.cache_size``, at least the image size): the
training device crops or resizes to ``image_size`` (see ``cvzoo.data.resize``). Images stay
uint8 until they reach the training device (smaller transfers, one home for scaling and
normalization). File datasets decode once into an on-disk cache (``cvzoo.data.cache``).
"""

from cvzoo.data.splits import DatasetSplits, build_splits

__all__ = ["DatasetSplits", "build_splits"]
