"""The pyramid adapter: every backbone becomes NCHW maps with known, strictly increasing strides."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from cvzoo.models.backbones import build_backbone
from cvzoo.models.pyramid import PyramidAdapter, SimpleFeaturePyramid

# backbone config -> (channels, strides) of the pyramid a dense head sees
EXPECTED = {
    "test_resnet": ((32, 32, 48, 192, 96), (2, 4, 8, 16, 32)),
    "test_efficientnet": ((16, 24, 32, 48, 64), (2, 4, 8, 16, 32)),
    "test_convnext": ((24, 32, 48, 64), (4, 8, 16, 32)),
    "test_mambaout": ((16, 32, 48, 64), (4, 8, 16, 32)),  # NHWC
    "test_swin": ((16, 32, 64, 128), (4, 8, 16, 32)),  # NHWC
    "test_vit": ((16, 32, 64, 64), (4, 8, 16, 32)),  # one stride-16 map -> simple feature pyramid
}


def build_adapter(compose_cfg, backbone: str, multiscale: bool = True):
    """Backbone and adapter from a backbone config, as build_model makes them."""
    cfg = compose_cfg(f"backbone={backbone}", "dataset=shapes", "dataset.image_size=32")
    spec = OmegaConf.to_container(cfg.backbone, resolve=True)
    built = build_backbone(spec["name"], spec["pretrained"], spec["kwargs"])
    adapter = PyramidAdapter(built.channels, built.reductions, built.channels_last_output, multiscale)
    return built, adapter


@pytest.mark.parametrize("backbone", sorted(EXPECTED))
@pytest.mark.parametrize("size", [32, 48])
def test_adapter_gives_nchw_maps_at_the_reported_strides(compose_cfg, backbone: str, size: int) -> None:
    built, adapter = build_adapter(compose_cfg, backbone)
    channels, strides = EXPECTED[backbone]
    assert adapter.info.channels == channels
    assert adapter.info.strides == strides
    maps = adapter(built.module(torch.rand(2, 3, size, size)))
    assert [m.shape[1] for m in maps] == list(channels)  # NHWC outputs were permuted
    for m, stride in zip(maps, strides):
        assert m.shape[0] == 2
        assert abs(m.shape[-1] - size / stride) < 1 and abs(m.shape[-2] - size / stride) < 1


def test_channels_last_comes_from_feature_info_not_shapes(compose_cfg) -> None:
    swin, _ = build_adapter(compose_cfg, "test_swin")
    resnet, _ = build_adapter(compose_cfg, "test_resnet")
    assert swin.channels_last_output and not resnet.channels_last_output


def test_single_scale_backbone_keeps_one_map_unless_a_pyramid_is_needed(compose_cfg) -> None:
    built, adapter = build_adapter(compose_cfg, "test_vit", multiscale=False)
    assert adapter.info.strides == (16,) and adapter.info.channels == (64,)
    assert len(adapter(built.module(torch.rand(1, 3, 32, 32)))) == 1


def test_simple_feature_pyramid_builds_finer_and_coarser_scales() -> None:
    sfp = SimpleFeaturePyramid(channels=384, stride=16)
    assert sfp.info.strides == (4, 8, 16, 32)
    assert sfp.info.channels == (96, 192, 384, 384)
    maps = sfp(torch.rand(1, 384, 4, 4))
    assert [tuple(m.shape[-2:]) for m in maps] == [(16, 16), (8, 8), (4, 4), (2, 2)]
