"""Datasets read from files: the shared decode settings, and items served from the cache or decoded live."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from cvzoo.data.cache import CachedItems, CacheSpec, CacheStatus, DecodedItems, open_cache
from cvzoo.data.images import BAD_IMAGE_POLICIES, is_readable
from cvzoo.data.resize import RESIZE_MODES
from cvzoo.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileDataSettings:
    """How file datasets are decoded and cached: the keys of ``configs/dataset/files/cache.yaml``."""

    cache: bool = True
    cache_dir: str = "data/cache"
    cache_size: int | None = None
    resize: str = "crop"
    eval_crop: float = 0.875
    on_bad_image: str = "fail"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> FileDataSettings:
        """The settings in a dataset config (missing keys keep their defaults), validated."""
        given = {f.name: cfg[f.name] for f in fields(cls) if cfg.get(f.name) is not None}
        settings = cls(**given)
        settings.check(int(cfg["image_size"]))
        return settings

    def check(self, image_size: int) -> None:
        """Raise ConfigError naming the first bad value."""
        if self.resize not in RESIZE_MODES:
            raise ConfigError(f"dataset.resize={self.resize!r} must be one of {', '.join(RESIZE_MODES)}")
        if self.cache_size is not None and int(self.cache_size) < image_size:
            raise ConfigError(
                f"dataset.cache_size={self.cache_size} is below dataset.image_size={image_size}; "
                f"use {image_size} or more (e.g. {round(image_size / 0.875)})"
            )
        if self.on_bad_image not in BAD_IMAGE_POLICIES:
            choices = ", ".join(BAD_IMAGE_POLICIES)
            raise ConfigError(f"dataset.on_bad_image={self.on_bad_image!r} must be one of {choices}")
        if not 0.0 < float(self.eval_crop) <= 1.0:
            raise ConfigError(f"dataset.eval_crop={self.eval_crop} must be in (0, 1], e.g. 0.875")

    def size(self, image_size: int) -> int:
        """Side of the decoded (cached) square."""
        return int(self.cache_size) if self.cache_size is not None else int(image_size)


def decode_settings(cfg: Mapping[str, Any]) -> tuple[FileDataSettings, int]:
    """The dataset's settings and the side its items are decoded at."""
    settings = FileDataSettings.from_config(cfg)
    return settings, settings.size(int(cfg["image_size"]))


def apply_bad_policy(bad: Mapping[int, str], count: int, policy: str) -> np.ndarray:
    """Indices of the readable items; unreadable ones raise (``fail``) or are dropped with a warning."""
    if bad and policy == "fail":
        raise DataError(
            f"cannot decode image {bad[min(bad)]} ({len(bad)} unreadable); "
            "remove it or set dataset.on_bad_image=skip"
        )
    if bad:
        log.warning("skipping %d unreadable image(s), the first %s", len(bad), bad[min(bad)])
    return np.asarray([i for i in range(count) if i not in bad], dtype=np.int64)


def open_items(
    spec: CacheSpec, cfg: Mapping[str, Any], item_files: Sequence[Path]
) -> tuple[CachedItems | DecodedItems, np.ndarray, CacheStatus]:
    """The items (cached, or decoded on access), the readable indices, and the cache status.

    ``item_files[i]`` is the image of item ``i``: without the cache it is verified up front;
    with it, the build records unreadable items once and later jobs trust the index.
    """
    settings = FileDataSettings.from_config(cfg)
    if settings.cache:
        items, status = open_cache(spec, settings.cache_dir, int(cfg.get("num_workers", 0) or 0))
        bad = items.bad
    else:
        bad = {i: str(p) for i, p in enumerate(item_files) if not is_readable(p)}
        items, status = DecodedItems(spec.decode, spec.count), CacheStatus("off", items=spec.count)
        status.bad_images = len(bad)
    return items, apply_bad_policy(bad, spec.count, settings.on_bad_image), status


def merge_statuses(statuses: Sequence[CacheStatus]) -> dict[str, Any]:
    """The record's ``data_cache`` entry for one dataset's caches (one per folder it reads)."""
    states = {s.state for s in statuses}
    built = [s.build_s for s in statuses if s.build_s is not None]
    return {
        "state": "built" if "built" in states else ("reused" if "reused" in states else "off"),
        "build_s": round(sum(built), 3) if built else None,
        "paths": [s.path for s in statuses if s.path],
        "items": sum(s.items for s in statuses),
        "bad_images": sum(s.bad_images for s in statuses),
    }
