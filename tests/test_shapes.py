"""The procedural shapes dataset: deterministic, configurable, cached, split like any dataset."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from cvzoo.data import build_splits
from cvzoo.data import shapes as shapes_module
from cvzoo.data.shapes import ShapesSpec, generate_shapes
from cvzoo.errors import ConfigError


def test_generation_is_deterministic_per_seed() -> None:
    images, masks = generate_shapes(ShapesSpec(16, 32, ("circle", "square"), seed=3))
    again_images, again_masks = generate_shapes(ShapesSpec(16, 32, ("circle", "square"), seed=3))
    other_images, _ = generate_shapes(ShapesSpec(16, 32, ("circle", "square"), seed=4))
    assert torch.equal(images, again_images) and torch.equal(masks, again_masks)
    assert not torch.equal(images, other_images)
    assert images.shape == (16, 3, 32, 32) and images.dtype == torch.uint8
    assert masks.shape == (16, 32, 32)


def test_every_class_appears_and_objects_are_painted() -> None:
    kinds = ("circle", "square", "triangle", "cross", "ring")
    images, masks = generate_shapes(ShapesSpec(100, 48, kinds, seed=0))
    assert set(masks.unique().tolist()) == set(range(len(kinds) + 1))
    assert ((masks > 0).flatten(1).any(1)).all()  # every image holds at least one object
    inside, outside = (
        images.float().permute(0, 2, 3, 1)[masks > 0],
        images.float().permute(0, 2, 3, 1)[masks == 0],
    )
    assert inside.std() > 20 and outside.std() > 20  # colourful objects on textured backgrounds


def test_two_thousand_images_at_64_px_take_seconds() -> None:
    start = time.perf_counter()
    images, _ = generate_shapes(ShapesSpec(2000, 64))
    assert len(images) == 2000
    assert time.perf_counter() - start < 20  # ~1.5 s on an idle 2-core CPU


def test_shapes_config_gives_segmentation_splits_with_class_names(compose_cfg) -> None:
    cfg = compose_cfg("dataset=shapes", "dataset.num_images=100", "dataset.image_size=32")
    splits = build_splits(cfg.dataset)
    assert splits.task == "segmentation" and splits.ignore_index == 255
    assert splits.class_names == ["background", "circle", "square", "triangle"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (70, 15, 15)
    image, mask = splits.train[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8
    assert mask.shape == (32, 32) and mask.dtype == torch.int64
    assert cfg.monitor == "val/mIoU" and cfg.monitor_mode == "max"


def test_fraction_keeps_a_nested_share_of_the_training_split(compose_cfg) -> None:
    def train_indices(fraction: float) -> set[int]:
        cfg = compose_cfg(
            "dataset=shapes",
            "dataset.num_images=100",
            "dataset.image_size=16",
            f"dataset.fraction={fraction}",
        )
        splits = build_splits(cfg.dataset)
        assert len(splits.val) == 15 and len(splits.test) == 15
        return set(splits.train.indices)

    quarter, half, full = train_indices(0.25), train_indices(0.5), train_indices(1.0)
    assert (len(quarter), len(half), len(full)) == (18, 35, 70)
    assert quarter <= half <= full


def test_dataset_is_cached_atomically_and_reused(compose_cfg, monkeypatch) -> None:
    cfg = compose_cfg("dataset=shapes", "dataset.num_images=20", "dataset.image_size=16")
    first = build_splits(cfg.dataset)
    cache = Path(cfg.dataset.cache_dir)
    assert [p.suffix for p in cache.iterdir()] == [".pt"]  # no temp files left behind

    def no_generation(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(shapes_module, "generate_shapes", no_generation)
    second = build_splits(cfg.dataset)
    assert torch.equal(first.train[3][0], second.train[3][0])


def test_broken_cache_is_regenerated(compose_cfg) -> None:
    cfg = compose_cfg("dataset=shapes", "dataset.num_images=20", "dataset.image_size=16")
    first = build_splits(cfg.dataset)
    (cache_file,) = Path(cfg.dataset.cache_dir).glob("*.pt")
    cache_file.write_bytes(b"truncated")
    assert torch.equal(build_splits(cfg.dataset).train[0][1], first.train[0][1])


def test_unknown_shape_names_the_closest(compose_cfg) -> None:
    cfg = compose_cfg("dataset=shapes", "dataset.shapes=[circle,sqare]")
    with pytest.raises(ConfigError, match="unknown shape 'sqare'; did you mean: square"):
        build_splits(cfg.dataset)


def test_object_size_rotation_and_noise_are_configurable(compose_cfg) -> None:
    cfg = compose_cfg(
        "dataset=shapes",
        "dataset.object_size=[0.3,0.4]",
        "dataset.rotate=false",
        "dataset.noise=0",
    )
    spec = shapes_module.shapes_spec(cfg.dataset)
    assert spec.object_size == (0.3, 0.4) and not spec.rotate and spec.noise == 0
    big = generate_shapes(ShapesSpec(50, 32, object_size=(0.3, 0.4)))[1]
    small = generate_shapes(ShapesSpec(50, 32, object_size=(0.05, 0.1)))[1]
    assert (big > 0).float().mean() > 2 * (small > 0).float().mean()


def test_object_size_out_of_range_is_one_clear_error(compose_cfg) -> None:
    cfg = compose_cfg("dataset=shapes", "dataset.object_size=[0.5,0.2]")
    with pytest.raises(ConfigError, match=r"dataset.object_size=\[0.5, 0.2\] must satisfy"):
        build_splits(cfg.dataset)
