"""Optimizers, schedulers and trainer switches: every config builds, steps and does what it says."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from cvzoo.errors import ConfigError
from cvzoo.models import build_model
from cvzoo.optim import build_optimizer, build_scheduler
from cvzoo.training.setup import CVZOO_TRAINER_KEYS

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
OPTIMIZERS = sorted(p.stem for p in (CONFIG_DIR / "optimizer").glob("*.yaml"))
SCHEDULERS = sorted(p.stem for p in (CONFIG_DIR / "scheduler").glob("*.yaml"))
TRAINERS = sorted(p.stem for p in (CONFIG_DIR / "trainer").glob("*.yaml"))
STEPS_PER_EPOCH, EPOCHS = 4, 12  # 12 epochs: step (step_size 10) and plateau act
TOTAL = STEPS_PER_EPOCH * EPOCHS


class TinyNet(nn.Module):
    """A backbone (conv + batch norm) and a head, named like ``CvzooModel``'s parts."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())  # fmt: skip
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images."""
        return self.head(self.backbone(x))


def groups(compose_cfg, *overrides: str) -> tuple[dict, dict]:
    """The resolved optimizer and scheduler nodes for ``overrides``."""
    cfg = OmegaConf.to_container(compose_cfg(*overrides), resolve=True)
    return cfg["optimizer"], cfg["scheduler"]


def train_steps(optimizer, scheduler: dict | None, model: nn.Module, epochs: int = EPOCHS) -> list[float]:
    """Run ``epochs`` x STEPS_PER_EPOCH steps the way Lightning would; return the lr per step."""
    torch.manual_seed(0)
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 2, (8,))
    lrs = []
    for _epoch in range(epochs):
        for _ in range(STEPS_PER_EPOCH):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            if scheduler and scheduler["interval"] == "step":
                scheduler["scheduler"].step()
            lrs.append(optimizer.param_groups[-1]["lr"])
        if scheduler and scheduler["interval"] == "epoch":
            if "monitor" in scheduler:  # plateau: a metric that never improves
                scheduler["scheduler"].step(0.5)
            else:
                scheduler["scheduler"].step()
    return lrs


@pytest.mark.parametrize("scheduler_name", SCHEDULERS)
@pytest.mark.parametrize("optimizer_name", OPTIMIZERS)
def test_every_optimizer_and_scheduler_builds_and_steps(compose_cfg, optimizer_name, scheduler_name):
    opt_cfg, sched_cfg = groups(compose_cfg, f"optimizer={optimizer_name}", f"scheduler={scheduler_name}")
    model = TinyNet()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = build_optimizer(opt_cfg, model)
    scheduler = build_scheduler(sched_cfg, optimizer, TOTAL, "val/acc")
    assert (scheduler is None) == (scheduler_name == "none")
    lrs = train_steps(optimizer, scheduler, model)
    assert all(math.isfinite(lr) and lr > 0 for lr in lrs)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    if scheduler_name == "none":
        assert set(lrs) == {opt_cfg["lr"]}
    else:
        assert len(set(lrs)) > 1, f"{scheduler_name} never changed the lr"


def test_cosine_warms_up_linearly_then_decays(compose_cfg):
    opt_cfg, sched_cfg = groups(compose_cfg, "optimizer=sgd", "scheduler=cosine",
                                "scheduler.warmup_fraction=0.2")  # fmt: skip
    model = TinyNet()
    optimizer = build_optimizer(opt_cfg, model)
    lrs = train_steps(optimizer, build_scheduler(sched_cfg, optimizer, TOTAL, "val/acc"), model)
    peak = lrs.index(max(lrs))
    assert lrs[:peak] == sorted(lrs[:peak]) and lrs[peak:] == sorted(lrs[peak:], reverse=True)
    assert max(lrs) == pytest.approx(opt_cfg["lr"])
    assert lrs[-1] == pytest.approx(opt_cfg["lr"] * sched_cfg["min_lr_ratio"], rel=0.05)


def test_step_and_plateau_cut_the_lr_by_their_factor(compose_cfg):
    for name, override in (("step", "scheduler.step_size=2"), ("plateau", "scheduler.patience=1")):
        opt_cfg, sched_cfg = groups(compose_cfg, "optimizer=adamw", f"scheduler={name}", override)
        model = TinyNet()
        optimizer = build_optimizer(opt_cfg, model)
        scheduler = build_scheduler(sched_cfg, optimizer, TOTAL, "val/acc")
        train_steps(optimizer, scheduler, model, epochs=5)  # cuts after epochs 2 and 4
        factor = sched_cfg.get("gamma", sched_cfg.get("factor"))
        assert optimizer.param_groups[0]["lr"] == pytest.approx(opt_cfg["lr"] * factor**2), name


def test_no_weight_decay_on_norm_weights_and_biases(compose_cfg):
    opt_cfg, _ = groups(compose_cfg, "optimizer=adamw", "optimizer.weight_decay=0.1")
    model = TinyNet()
    optimizer = build_optimizer(opt_cfg, model)
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for name, param in model.named_parameters():
        expected = 0.0 if name.endswith("bias") or name.startswith("backbone.1.") else 0.1
        assert decay_of[id(param)] == expected, name
    assert len(decay_of) == len(list(model.parameters()))


def test_vit_position_embedding_and_class_token_get_no_decay(compose_cfg):
    cfg = OmegaConf.to_container(compose_cfg("backbone=test_vit", "optimizer=adamw"), resolve=True)
    model, _ = build_model(cfg["backbone"], cfg["head"], 3, [0.5] * 3, [0.5] * 3)
    optimizer = build_optimizer(cfg["optimizer"], model)
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert decay_of[id(named["backbone.model.pos_embed"])] == 0.0
    assert decay_of[id(named["backbone.model.cls_token"])] == 0.0
    assert decay_of[id(named["backbone.model.patch_embed.proj.weight"])] > 0.0


@pytest.mark.parametrize("scheduler_name", ["none", "cosine", "onecycle"])
def test_backbone_lr_multiplier_applies_to_the_backbone_only(compose_cfg, scheduler_name):
    opt_cfg, sched_cfg = groups(compose_cfg, "optimizer=sgd", f"scheduler={scheduler_name}",
                                "optimizer.backbone_lr_mult=0.1")  # fmt: skip
    model = TinyNet()
    optimizer = build_optimizer(opt_cfg, model)
    scheduler = build_scheduler(sched_cfg, optimizer, TOTAL, "val/acc")
    train_steps(optimizer, scheduler, model)
    lr = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert set(lr) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert lr["backbone"] == pytest.approx(0.1 * lr["head"])
    assert lr["backbone_no_decay"] == pytest.approx(0.1 * lr["head_no_decay"])


def test_unknown_scheduler_name_suggests_the_close_one():
    optimizer = torch.optim.SGD(TinyNet().parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="did you mean: cosine"):
        build_scheduler({"name": "cosin"}, optimizer, 10, "val/acc")


@pytest.mark.parametrize("trainer_name", TRAINERS)
def test_trainer_configs_are_lightning_arguments_plus_cvzoo_switches(compose_cfg, trainer_name):
    cfg = compose_cfg(f"trainer={trainer_name}")
    options = OmegaConf.to_container(cfg.trainer, resolve=True)
    accepted = set(inspect.signature(L.Trainer.__init__).parameters)
    assert set(options) - set(CVZOO_TRAINER_KEYS) <= accepted
    for key in ("precision", "gradient_clip_val", "accumulate_grad_batches", *CVZOO_TRAINER_KEYS):
        assert key in options
    if trainer_name == "gpu":
        assert options["precision"] == "bf16-mixed" and options["channels_last"] is True


def test_default_callbacks_log_the_lr_and_stop_early_on_the_monitored_metric(compose_cfg):
    cfg = compose_cfg("dataset=digits")
    assert cfg.callbacks.lr_monitor._target_.endswith("LearningRateMonitor")
    assert cfg.callbacks.early_stopping.monitor == cfg.monitor == "val/acc"
    assert cfg.callbacks.early_stopping.mode == cfg.monitor_mode == "max"
    assert compose_cfg("scheduler=plateau").scheduler.mode == "max"
