"""``shapes_det``: the procedural ``shapes`` images with one box per visible object (no download).

Boxes come from the generator's object instances: the extent of each object's visible pixels,
so objects cut by the border get clipped boxes and occluded objects keep the box of what is
left of them (an object with fewer than ``min_visible_pixels`` visible pixels is not labelled).
Classes are the shape kinds (no background class). Cached next to the segmentation cache.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cvzoo.data.boxes import BoxTensorDataset, boxes_from_instances
from cvzoo.data.shapes import ShapesSpec, cache_path, generate_shape_instances, save_atomic, shapes_spec
from cvzoo.data.splits import DatasetSplits, make_splits
from cvzoo.errors import ConfigError

log = logging.getLogger(__name__)


def generate_boxes(spec: ShapesSpec, min_pixels: int) -> dict[str, Tensor]:
    """Images, padded boxes and labels (-1 = no object) for ``spec``."""
    images, masks, instances = generate_shape_instances(spec)
    boxes, labels = boxes_from_instances(instances, masks, min_pixels)
    return {"images": images, "boxes": boxes, "labels": labels}


def load_or_generate_boxes(spec: ShapesSpec, min_pixels: int, cache_dir: Any) -> dict[str, Tensor]:
    """Read the cached detection data for ``spec``, generating (and caching) it if needed."""
    path = cache_path(Path(str(cache_dir)), spec, f"-det{min_pixels}") if cache_dir else None
    if path is not None and path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as err:  # noqa: BLE001 - a broken cache is regenerated
            log.warning("regenerating shapes_det: cache %s is unreadable (%s)", path, err)
    data = generate_boxes(spec, min_pixels)
    if path is not None:
        save_atomic(path, data)
    return data


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Generate (or read from the cache) the boxes dataset and split it deterministically."""
    spec = shapes_spec(cfg)
    min_pixels = int(cfg.get("min_visible_pixels", 8))
    if min_pixels < 1:
        raise ConfigError(f"dataset.min_visible_pixels={min_pixels} must be at least 1")
    data = load_or_generate_boxes(spec, min_pixels, cfg.get("cache_dir"))
    dataset = BoxTensorDataset(data["images"], data["boxes"], data["labels"])
    train, val, test = make_splits(dataset, None, cfg)
    return DatasetSplits(train, val, test, class_names=list(spec.kinds), task="detection")
