"""Batch augmentation: every config on images and on image+mask batches, composition, JPEG grads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from cvzoo.augment import BatchAugmentation, build_augmentation
from cvzoo.errors import ConfigError

IGNORE = 255
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
OPTIONS = sorted(p.stem for p in (CONFIG_DIR / "augmentation").glob("*.yaml"))


def augmentation_node(compose_cfg, *choices: str) -> dict | None:
    """The resolved ``augmentation`` node for ``augmentation=<choices>``."""
    choice = choices[0] if len(choices) == 1 else "[" + ",".join(choices) + "]"
    cfg = compose_cfg(f"augmentation={choice}")
    node = cfg.get("augmentation")
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def image_batch(n: int = 6, size: int = 32) -> torch.Tensor:
    """Random float RGB images in [0, 1]."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def mask_batch(n: int = 6, size: int = 32, classes: int = 4) -> torch.Tensor:
    """int64 masks with ``classes`` labels and an ignore_index border."""
    masks = torch.randint(0, classes, (n, size, size), generator=torch.Generator().manual_seed(1))
    masks[:, :3] = IGNORE
    return masks


def test_list_selection_merges_one_block_per_file_in_order(compose_cfg):
    assert list(augmentation_node(compose_cfg, "basic", "jpeg")) == ["basic", "jpeg"]
    assert list(augmentation_node(compose_cfg, "jpeg", "basic")) == ["jpeg", "basic"]
    assert list(augmentation_node(compose_cfg, "basic")) == ["basic"]
    assert list(augmentation_node(compose_cfg, "none", "strong")) == ["strong"]
    assert not augmentation_node(compose_cfg, "none")
    assert build_augmentation(augmentation_node(compose_cfg, "none"), "classification") is None

    augment = build_augmentation(augmentation_node(compose_cfg, "strong", "jpeg"), "classification")
    assert isinstance(augment, BatchAugmentation)
    assert [type(b).__name__ for b in augment.blocks] == ["TransformBlock", "JpegBlock"]


@pytest.mark.parametrize("option", [o for o in OPTIONS if o != "none"])
def test_every_config_augments_an_image_batch(compose_cfg, option):
    torch.manual_seed(0)
    augment = build_augmentation(augmentation_node(compose_cfg, option), "classification")
    images = image_batch()
    out, masks = augment(images)
    assert masks is None
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.equal(out, images)


@pytest.mark.parametrize("option", [o for o in OPTIONS if o != "none"])
def test_every_config_keeps_masks_within_the_class_set(compose_cfg, option):
    torch.manual_seed(0)
    augment = build_augmentation(augmentation_node(compose_cfg, option), "segmentation", IGNORE)
    images, masks = image_batch(), mask_batch()
    out, out_masks = augment(images, masks)
    assert out.shape == images.shape
    assert out_masks.shape == masks.shape and out_masks.dtype == torch.int64
    assert set(out_masks.unique().tolist()) <= {0, 1, 2, 3, IGNORE}


@pytest.mark.parametrize(
    "transform",
    [
        {"hflip": {"p": 1.0}},
        {"vflip": {"p": 1.0}},
        {"affine": {"p": 1.0, "degrees": 40, "translate": [0.2, 0.2], "scale": [0.7, 1.3]}},
        {"rotation": {"p": 1.0, "degrees": 45}},
        {"resized_crop": {"p": 1.0, "scale": [0.2, 0.5]}},
    ],
    ids=lambda t: next(iter(t)),
)
def test_masks_follow_geometric_transforms_with_the_same_parameters(transform):
    """Images that encode their label as brightness must still agree with the moved masks."""
    torch.manual_seed(0)
    name, options = next(iter(transform.items()))
    if "flip" not in name:  # nearest for images too, so brightness stays an exact label
        options = {**options, "resample": "nearest"}
    augment = build_augmentation({"geo": {name: options}}, "segmentation", IGNORE)
    masks = mask_batch(n=8, size=24)
    images = ((masks.clamp(max=9) + 1) / 10).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    out, out_masks = augment(images, masks)
    label = (out[:, 0] * 10).round().long() - 1  # padding (0) -> -1, ignore (10) -> 9
    expected = torch.where((label < 0) | (label == 9), IGNORE, label)
    assert torch.equal(out_masks, expected)
    assert not torch.equal(out_masks, masks)


def test_padding_from_rotation_becomes_ignore_index_not_background():
    torch.manual_seed(0)
    augment = build_augmentation({"b": {"rotation": {"p": 1.0, "degrees": [45, 45]}}}, "segmentation", 7)
    masks = torch.ones(2, 16, 16, dtype=torch.int64)
    _, out = augment(torch.rand(2, 3, 16, 16), masks)
    assert set(out.unique().tolist()) == {1, 7}
    assert out[:, 0, 0].eq(7).all()


def test_photometric_and_jpeg_blocks_leave_masks_untouched():
    torch.manual_seed(0)
    config = {
        "photo": {"color_jitter": {"p": 1.0, "brightness": 0.4}, "noise": {"p": 1.0, "std": 0.1},
                  "erasing": {"p": 1.0}, "blur": {"p": 1.0, "kernel_size": 3, "sigma": [1.0, 1.0]}},
        "jpeg": {"p": 1.0, "quality": [20, 60]},
    }  # fmt: skip
    augment = build_augmentation(config, "segmentation", IGNORE)
    images, masks = image_batch(), mask_batch()
    out, out_masks = augment(images, masks.clone())
    assert torch.equal(out_masks, masks)
    assert (out - images).abs().mean() > 0.01


def test_jpeg_is_differentiable_and_handles_grey_images():
    torch.manual_seed(0)
    augment = build_augmentation({"jpeg": {"p": 1.0, "quality": [30, 90]}}, "classification")
    images = image_batch(n=2, size=24).requires_grad_()
    out, _ = augment(images)
    out.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    grey, _ = augment(torch.rand(2, 1, 20, 20))
    assert grey.shape == (2, 1, 20, 20)


def test_jpeg_quality_follows_the_image_device():
    block = build_augmentation({"jpeg": {"p": 1.0, "quality": 50}}, "classification").blocks[0]
    block(image_batch(n=1, size=16))
    assert block._jpeg.jpeg_quality.device == torch.device("cpu")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"basic": {"hflipp": {"p": 0.5}}}, "did you mean: hflip"),
        ({"basic": {"affine": {"p": 0.5, "degree": 3}}}, "augmentation.basic.affine"),
        ({"basic": {"hflip": 0.5}}, "must be a mapping"),
        ({"jpeg": {"quality": [90, 10]}}, "1 <= low <= high <= 100"),
        ({"jpeg": {"qualty": 50}}, "known: p, quality"),
    ],
)
def test_bad_options_raise_one_line_config_errors(config, message):
    with pytest.raises(ConfigError, match=message):
        build_augmentation(config, "classification")


def test_null_drops_a_transform_from_a_block():
    augment = build_augmentation(
        {"basic": {"hflip": None, "color_jitter": {"p": 1.0, "hue": 0.1}}}, "classification"
    )
    block = augment.blocks[0]
    assert block.geometric_specs == [] and len(block.photometric) == 1
