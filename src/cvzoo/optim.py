"""Optimizers and learning-rate schedules from the ``optimizer`` and ``scheduler`` config groups.

Weight decay is never applied to norm weights and biases (1-D parameters) nor to the parameters a
timm model lists in ``no_weight_decay()`` (position embeddings, class tokens); the backbone gets
``lr * backbone_lr_mult`` for fine-tuning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from hydra.utils import get_class
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR, ReduceLROnPlateau, StepLR

from cvzoo.errors import ConfigError, suggestion

_OPTIMIZER_META = ("_target_", "name", "backbone_lr_mult")


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names of the parameters that submodules list in timm's ``no_weight_decay()``."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        listed = getattr(module, "no_weight_decay", None)
        if callable(listed):
            names.update(f"{prefix}.{n}" if prefix else str(n) for n in listed())
    return names


def param_groups(model: nn.Module, lr: float, weight_decay: float, backbone_lr_mult: float) -> list[dict]:
    """Split parameters into backbone/rest x decay/no-decay groups with their lr and decay."""
    skip = no_weight_decay_names(model)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = (name.startswith("backbone."), param.ndim <= 1 or name in skip)
        groups.setdefault(key, []).append(param)
    return [
        {
            "params": params,
            "lr": lr * (backbone_lr_mult if is_backbone else 1.0),
            "weight_decay": 0.0 if no_decay else weight_decay,
            "name": f"{'backbone' if is_backbone else 'head'}{'_no_decay' if no_decay else ''}",
        }
        for (is_backbone, no_decay), params in sorted(groups.items())
    ]


def build_optimizer(cfg: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    """Instantiate the optimizer class named by ``cfg._target_`` over the parameter groups."""
    try:
        cls = get_class(str(cfg["_target_"]))
    except Exception as err:
        raise ConfigError(f"optimizer._target_={cfg.get('_target_')!r} cannot be imported") from err
    options = {k: v for k, v in cfg.items() if k not in _OPTIMIZER_META}
    lr, wd = float(options.pop("lr")), float(options.pop("weight_decay", 0.0))
    groups = param_groups(model, lr, wd, float(cfg.get("backbone_lr_mult", 1.0)))
    return cls(groups, lr=lr, **options)


def _warmup_cosine(total_steps: int, warmup_steps: int, min_lr_ratio: float):
    """Multiplier: linear warmup to 1, then cosine decay to ``min_lr_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class HorizonOneCycleLR(OneCycleLR):
    """OneCycleLR whose horizon (total steps) comes from the run, not from a loaded checkpoint.

    A run continued to a larger ``trainer.max_epochs`` keeps the restored step count and follows
    the schedule of its new length (a plain OneCycleLR would restore the old total and stop).
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step count and learning rates; keep this run's total steps and phases."""
        mine = {key: getattr(self, key) for key in ("total_steps", "_schedule_phases")}
        super().load_state_dict({**state_dict, **mine})


def _make(
    name: str, cfg: Mapping[str, Any], opt: torch.optim.Optimizer, total: int
) -> LRScheduler | ReduceLROnPlateau:
    """Build the torch scheduler for ``name``."""
    if name == "cosine":
        warmup = int(round(float(cfg.get("warmup_fraction", 0.05)) * total))
        return LambdaLR(opt, _warmup_cosine(total, warmup, float(cfg.get("min_lr_ratio", 0.01))))
    if name == "onecycle":
        max_lr = [g["lr"] for g in opt.param_groups]
        return HorizonOneCycleLR(
            opt, max_lr=max_lr, total_steps=max(total, 1), pct_start=float(cfg.get("pct_start", 0.3))
        )
    if name == "step":
        return StepLR(opt, step_size=int(cfg.get("step_size", 10)), gamma=float(cfg.get("gamma", 0.1)))
    return ReduceLROnPlateau(
        opt,
        mode=str(cfg.get("mode", "max")),
        factor=float(cfg.get("factor", 0.5)),
        patience=int(cfg.get("patience", 2)),
    )


SCHEDULER_INTERVAL = {"cosine": "step", "onecycle": "step", "step": "epoch", "plateau": "epoch"}


def build_scheduler(
    cfg: Mapping[str, Any], optimizer: torch.optim.Optimizer, total_steps: int, monitor: str
) -> dict[str, Any] | None:
    """Return a Lightning ``lr_scheduler`` dict for ``cfg.name`` (None for ``none``)."""
    name = str(cfg.get("name", "none"))
    if name == "none":
        return None
    if name not in SCHEDULER_INTERVAL:
        hint = suggestion(name, [*SCHEDULER_INTERVAL, "none"])
        raise ConfigError(f"scheduler.name={name!r} is unknown; {hint or 'see configs/scheduler/'}")
    scheduler = _make(name, cfg, optimizer, total_steps)
    out: dict[str, Any] = {"scheduler": scheduler, "interval": SCHEDULER_INTERVAL[name], "frequency": 1}
    if name == "plateau":
        out["monitor"] = monitor
    return out
