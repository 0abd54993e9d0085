"""Every config file of every group composes, and what it describes can be built."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from cvzoo.data import build_splits
from cvzoo.errors import ConfigError, DataError
from cvzoo.models import build_model
from cvzoo.training.setup import build_trainer
from cvzoo.training.stats import RunStats
from tests.conftest import CONFIG_DIR

GROUPS = (
    "backbone",
    "head",
    "dataset",
    "augmentation",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "paths",
    "hydra",
    "experiment",
)


def options(group: str) -> list[str]:
    """Config files of one group."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def test_every_group_exists_with_options():
    for group in GROUPS:
        assert options(group), f"configs/{group}/ has no options"


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS if g != "hydra" for o in options(g)])
def test_every_option_composes(compose_cfg, group, option):
    if group == "head" and option not in ("linear", "mlp"):
        cfg = compose_cfg(f"{group}={option}", "dataset=shapes") if "shapes" in options("dataset") else None
        if cfg is None:
            pytest.skip("segmentation dataset not available")
    else:
        cfg = compose_cfg(f"{group}={option}")
    assert group == "experiment" or cfg[group] is not None
    assert cfg.monitor.startswith("val/")


@pytest.mark.parametrize("backbone", options("backbone"))
def test_every_backbone_builds_and_runs(compose_cfg, backbone):
    cfg = compose_cfg(f"backbone={backbone}", "backbone.pretrained=false")
    model, info = build_model(cfg.backbone, cfg.head, 10, cfg.dataset.mean, cfg.dataset.std)
    size = cfg.dataset.image_size
    logits = model(torch.rand(2, 3, size, size))
    assert logits.shape == (2, 10)
    assert info.params > 0 and info.pretrained_loaded is False


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_classification_heads_on_vit_and_cnn(compose_cfg, head):
    for backbone in ("test_vit", "test_convnext"):
        cfg = compose_cfg(f"backbone={backbone}", f"head={head}", "dataset.image_size=32")
        model, _ = build_model(cfg.backbone, cfg.head, 3, cfg.dataset.mean, cfg.dataset.std)
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3)


def test_digits_splits_are_deterministic_and_stratified(compose_cfg):
    cfg = compose_cfg("dataset.fraction=0.2")
    a, b = build_splits(cfg.dataset), build_splits(cfg.dataset)
    assert a.train.indices == b.train.indices and a.val.indices == b.val.indices
    assert set(a.train.indices).isdisjoint(a.val.indices) and set(a.val.indices).isdisjoint(a.test.indices)
    labels = a.train.dataset.targets[a.train.indices]
    assert set(labels.tolist()) == set(range(10))
    image, _ = a.train[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)


def test_smaller_fraction_is_a_subset_of_larger(compose_cfg):
    small = build_splits(compose_cfg("dataset.fraction=0.1").dataset).train.indices
    large = build_splits(compose_cfg("dataset.fraction=0.5").dataset).train.indices
    assert set(small) < set(large)


@pytest.mark.parametrize("fraction", ["0", "1.5", "-0.1"])
def test_fraction_out_of_range_is_one_clear_error(compose_cfg, fraction):
    with pytest.raises(ConfigError, match=rf"dataset.fraction={fraction}.*\(0, 1\]"):
        build_splits(compose_cfg(f"dataset.fraction={fraction}").dataset)


def test_cifar10_offline_is_one_clear_error(compose_cfg, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataError, match="cifar10 could not be downloaded"):
        build_splits(compose_cfg("dataset=cifar10").dataset)


def test_every_logger_and_callback_instantiates(compose_cfg, tmp_path: Path):
    for logger in options("logger"):
        cfg = compose_cfg(f"logger={logger}")
        for node in (cfg.logger or {}).values():
            assert instantiate(node) is not None
    for callbacks in options("callbacks"):
        cfg = compose_cfg(f"callbacks={callbacks}")
        trainer = build_trainer(cfg, RunStats(), tmp_path)
        assert any(isinstance(c, RunStats) for c in trainer.callbacks)


def test_pretrained_true_fails_clearly_when_weights_are_unreachable(monkeypatch):
    from cvzoo.errors import ModelError
    from cvzoo.models.backbones import build_backbone

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ModelError, match=r"pretrained weights for 'test_resnet' could not be loaded.*pretrained=false"
    ):
        build_backbone("test_resnet", "true")
    assert build_backbone("test_resnet", "auto").pretrained_loaded is False
