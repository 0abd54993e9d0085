"""Segmentation heads: every head x backbone trains one step and gives logits at the input size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from cvzoo.errors import ConfigError
from cvzoo.models import build_model
from cvzoo.models.heads import build_head, check_head_task
from cvzoo.models.heads.deeplabv3plus import scale_rates
from cvzoo.models.pyramid import PyramidInfo
from cvzoo.tasks import TASKS

SEG_HEADS = ["fpn", "unet", "deeplabv3plus"]
BACKBONES = ["test_resnet", "test_vit", "test_convnext", "test_efficientnet", "test_swin", "test_mambaout"]
NUM_CLASSES = 4
IGNORE = 255


def make_model(compose_cfg, backbone: str, head: str, image_size: int = 32):
    """The model train.py would build for ``backbone=... head=... dataset=shapes``."""
    cfg = compose_cfg(
        f"backbone={backbone}", f"head={head}", "dataset=shapes", f"dataset.image_size={image_size}"
    )
    spec = OmegaConf.to_container(cfg, resolve=True)
    data = spec["dataset"]
    model, _ = build_model(spec["backbone"], spec["head"], NUM_CLASSES, data["mean"], data["std"])
    return model


def random_batch(size: int, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [0, 1] and masks with a few ignored pixels."""
    images = torch.rand(batch, 3, size, size)
    masks = torch.randint(0, NUM_CLASSES, (batch, size, size))
    masks[:, 0, :] = IGNORE
    return images, masks


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("head", SEG_HEADS)
def test_head_trains_and_predicts_at_input_resolution(compose_cfg, head: str, backbone: str) -> None:
    torch.manual_seed(0)
    model = make_model(compose_cfg, backbone, head)
    loss_fn = TASKS["segmentation"].loss(IGNORE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images, masks = random_batch(32)
    loss_fn(model(images), masks).backward()
    optimizer.step()
    for size in (32, 48):  # the training size and another one the backbone accepts
        images, masks = random_batch(size)
        logits = model(images)
        assert logits.shape == (2, NUM_CLASSES, size, size)
        assert torch.isfinite(loss_fn(logits, masks))


@pytest.mark.parametrize("backbone", ["test_swin", "test_vit"])
def test_classification_heads_work_on_nhwc_and_vit_backbones(compose_cfg, backbone: str) -> None:
    cfg = compose_cfg(f"backbone={backbone}", "head=mlp", "dataset.image_size=32")
    spec = OmegaConf.to_container(cfg, resolve=True)
    model, _ = build_model(spec["backbone"], spec["head"], 10, [0.5] * 3, [0.25] * 3)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("head", SEG_HEADS)
def test_heads_accept_a_single_level_pyramid(compose_cfg, head: str) -> None:
    cfg = OmegaConf.to_container(compose_cfg(f"head={head}").head)
    module = build_head(cfg, PyramidInfo(channels=(24,), strides=(16,)), NUM_CLASSES)
    assert module([torch.rand(2, 24, 3, 3)]).shape == (2, NUM_CLASSES, 3, 3)


def test_fpn_and_deeplab_start_at_stride_4_and_unet_uses_every_level(compose_cfg) -> None:
    info = PyramidInfo(channels=(8, 16, 24, 32, 40), strides=(2, 4, 8, 16, 32))
    heads = {h: build_head(OmegaConf.to_container(compose_cfg(f"head={h}").head), info, 3) for h in SEG_HEADS}
    maps = [torch.rand(1, c, 64 // s, 64 // s) for c, s in zip(info.channels, info.strides)]
    assert heads["fpn"].levels == [1, 2, 3, 4]
    assert heads["fpn"](maps).shape[-1] == 16  # stride 4
    assert heads["unet"](maps).shape[-1] == 32  # stride 2
    assert heads["deeplabv3plus"].low_index == 1
    assert heads["deeplabv3plus"].rates == [3, 6, 9]  # 6, 12, 18 at stride 16 -> stride 32


def test_atrous_rates_scale_with_the_stride_of_the_deepest_map() -> None:
    assert scale_rates([6, 12, 18], 16) == [6, 12, 18]
    assert scale_rates([6, 12, 18], 8) == [12, 24, 36]
    assert scale_rates([1, 2], 64) == [1, 1]


def test_bad_head_options_and_tasks_are_one_line_config_errors(compose_cfg) -> None:
    info = PyramidInfo(channels=(8, 16), strides=(4, 8))
    cfg = OmegaConf.to_container(compose_cfg("head=unet").head)
    with pytest.raises(ConfigError, match=r"head\.norm='layer' must be one of group, batch"):
        build_head({**cfg, "norm": "layer"}, info, 3)
    with pytest.raises(ConfigError, match="head=unet got a bad option"):
        build_head({**cfg, "channels": 3}, info, 3)
    with pytest.raises(ConfigError, match="head=fpn serves segmentation but the dataset is classification"):
        check_head_task(compose_cfg("head=fpn").head, "classification")


@pytest.mark.slow
def test_sweep_leaves_one_ok_segmentation_record_per_cell(run_train, tmp_path: Path) -> None:
    result = run_train(
        "backbone=test_resnet,test_vit",
        "head=fpn,unet",
        "dataset=shapes",
        "dataset.num_images=60",
        "dataset.image_size=32",
        "dataset.batch_size=8",
        "callbacks=none",
        "-m",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "logs").rglob("result.json")]
    assert sorted((r["backbone"], r["head"]) for r in records) == [
        ("test_resnet", "fpn"),
        ("test_resnet", "unet"),
        ("test_vit", "fpn"),
        ("test_vit", "unet"),
    ]
    for record in records:
        assert record["status"] == "ok" and record["task"] == "segmentation"
        assert record["monitor"] == "val/mIoU" and 0.0 <= record["best_val"]["val/mIoU"] <= 1.0
        assert set(record["test"]) >= {"test/mIoU", "test/dice", "test/pixel_acc"}
        assert record["per_class"]["names"] == ["background", "circle", "square", "triangle"]
        assert len(record["per_class"]["test/iou"]) == 4
