"""Sections 1-2: Lightning + CvzooModule vs a hand-written loop; input pipeline vs train step."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from benchmarks.common import Row, Settings, alternate, compose_cfg, fmt, ratio_row

WARMUP = 3


class StepClock(L.Callback):
    """Time stamps at the end of every training batch."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_batch_end(self, *args: Any) -> None:
        """Record the end of one optimizer step."""
        self.stamps.append(time.perf_counter())


def _rate(stamps: list[float], batch: int) -> float:
    """Images/s between the end of the warm-up steps and the last step."""
    steps = len(stamps) - WARMUP
    return steps * batch / (stamps[-1] - stamps[WARMUP - 1])


def _setup(st: Settings) -> tuple[Any, Any]:
    """The composed config and the in-memory digits splits (uint8)."""
    from cvzoo.data import build_splits

    size = 32
    cfg = compose_cfg(
        st.workdir,
        "backbone=resnet18",
        "backbone.pretrained=false",
        "dataset=digits",
        f"dataset.image_size={size}",
        "dataset.batch_size=32",
        "scheduler=none",
        "logger=csv",
        "callbacks=none",
        "trainer.enable_progress_bar=false",
        f"trainer.accelerator={'gpu' if st.device == 'cuda' else 'cpu'}",
    )
    return cfg, build_splits(cfg.dataset)


def _module(cfg: Any, splits: Any, augmentation: Any = None) -> Any:
    """A fresh CvzooModule (optionally with another augmentation group)."""
    from cvzoo.module import CvzooModule

    container = OmegaConf.to_container(cfg, resolve=True)
    if augmentation is not None:
        container["augmentation"] = augmentation
    return CvzooModule(container, splits.class_names, splits.ignore_index)


def lightning_rate(cfg: Any, splits: Any, steps: int) -> float:
    """Images/s of ``trainer.fit`` (default logging frequency, no validation)."""
    from cvzoo.training.setup import build_trainer
    from cvzoo.training.stats import RunStats

    module = _module(cfg, splits)
    clock = StepClock()
    with_limits = cfg.copy()
    OmegaConf.set_struct(with_limits, False)
    with_limits.trainer.update(
        {"max_epochs": 1, "limit_train_batches": steps, "limit_val_batches": 0, "num_sanity_val_steps": 0}
    )
    trainer = build_trainer(with_limits, RunStats(), cfg.paths.output_dir)
    trainer.callbacks.append(clock)
    loader = DataLoader(splits.train, batch_size=int(cfg.dataset.batch_size), shuffle=True)
    trainer.fit(module, train_dataloaders=loader)
    return _rate(clock.stamps, int(cfg.dataset.batch_size))


def plain_rate(cfg: Any, splits: Any, steps: int, device: str) -> float:
    """Images/s of a minimal PyTorch loop: same model, optimizer, data and batch size."""
    from cvzoo.optim import build_optimizer

    model = _module(cfg, splits).model.to(device).train()
    optimizer = build_optimizer(cfg.optimizer, model)
    loader = DataLoader(splits.train, batch_size=int(cfg.dataset.batch_size), shuffle=True)
    stamps = []
    for i, (images, targets) in enumerate(loader):
        if i == steps:
            break
        images = images.to(device).float().div_(255.0)
        loss = torch.nn.functional.cross_entropy(model(images), targets.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
    return _rate(stamps, int(cfg.dataset.batch_size))


def data_rate(cfg: Any, splits: Any, module: Any, batches: int, device: str) -> float:
    """Images/s of the default data path: DataLoader (config workers) + uint8->float + ``basic`` on device."""
    loader = DataLoader(
        splits.train,
        batch_size=int(cfg.dataset.batch_size),
        shuffle=True,
        num_workers=int(cfg.dataset.num_workers),
    )
    seen, start = 0, time.perf_counter()
    while seen < batches * int(cfg.dataset.batch_size):
        for images, _ in loader:
            # What CvzooModule.on_after_batch_transfer does in training.
            images = images.to(device).float().div_(255.0)
            images, _ = module.augment(images, None)
            seen += len(images)
    if device == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def run(st: Settings) -> list[Row]:
    """Sections 1 and 2."""
    cfg, splits = _setup(st)
    steps = 6 if st.quick else 24  # >= 20 timed steps: short windows made the ratio noisy
    repeats = 1 if st.quick else 5
    fw, plain = alternate(
        [lambda: lightning_rate(cfg, splits, steps), lambda: plain_rate(cfg, splits, steps, st.device)],
        repeats,
    )
    sec = "1 framework overhead"
    what = f"resnet18 32px bs{cfg.dataset.batch_size}"
    rows = [
        Row(sec, f"Lightning + CvzooModule ({what})", fmt(fw, "img/s")),
        Row(sec, "hand-written PyTorch loop", fmt(plain, "img/s")),
        ratio_row(sec, "Lightning / plain", fw / plain, 0.93),
    ]
    basic = OmegaConf.to_container(compose_cfg(st.workdir, "augmentation=basic").augmentation)
    module = _module(cfg, splits, basic).to(st.device)
    data, step = alternate(
        [
            lambda: data_rate(cfg, splits, module, steps * 2, st.device),
            lambda: plain_rate(cfg, splits, steps, st.device),
        ],
        repeats,
    )
    sec = "2 input pipeline"
    rows += [
        Row(sec, f"DataLoader (workers={cfg.dataset.num_workers}) + basic aug", fmt(data, "img/s")),
        Row(sec, "model train step", fmt(step, "img/s")),
        ratio_row(sec, "data path / train step", data / step, 1.5),
    ]
    return rows
