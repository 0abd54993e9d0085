"""Everything built from the config before training starts: checks, data, module, trainer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from lightning.pytorch.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, OmegaConf

from cvzoo.data import DatasetSplits, build_splits
from cvzoo.data.datamodule import CvzooDataModule
from cvzoo.faults import FAULT_ENV
from cvzoo.models.backbones import check_model_name, normalize_pretrained
from cvzoo.models.heads import check_head_task
from cvzoo.module import CvzooModule
from cvzoo.training.checkpoints import AtomicCheckpointIO
from cvzoo.training.epoch_control import SeedEachEpoch, StopAfterEpochs, stop_after_epochs
from cvzoo.training.guards import FaultInjector, Preemption
from cvzoo.training.stats import RunStats

# Keys of the trainer group that cvzoo handles itself instead of passing to lightning.Trainer.
CVZOO_TRAINER_KEYS = ("channels_last", "compile", "oom_retry", "stop_after_epochs")


@dataclass
class Prepared:
    """The pieces of one run, ready to fit."""

    splits: DatasetSplits
    datamodule: CvzooDataModule
    module: CvzooModule
    trainer: L.Trainer
    stats: RunStats


def check_config(cfg: DictConfig) -> None:
    """Validate what can be checked without touching data: head vs task, backbone, pretrained."""
    check_head_task(cfg.head, str(cfg.dataset.task))
    check_model_name(str(cfg.backbone.name))
    normalize_pretrained(cfg.backbone.get("pretrained", "auto"))


def _instantiate_group(group: Mapping[str, Any] | None) -> list[Any]:
    """Instantiate every entry of a callbacks/logger group that has a ``_target_``."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if isinstance(node, Mapping) and "_target_" in node]


def build_trainer(cfg: DictConfig, stats: RunStats, run_dir: Path) -> L.Trainer:
    """A lightning.Trainer from the trainer, callbacks and logger groups."""
    options = {
        k: v
        for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items()
        if k not in CVZOO_TRAINER_KEYS
    }
    faults = [FaultInjector()] if os.environ.get(FAULT_ENV) else []  # test hooks, before Preemption
    callbacks = [*faults, *_instantiate_group(cfg.get("callbacks")), stats, Preemption(run_dir)]
    callbacks.append(SeedEachEpoch(int(cfg.get("seed", 0))))
    if stop_after := stop_after_epochs(cfg.trainer.get("stop_after_epochs")):
        callbacks.append(StopAfterEpochs(stop_after))
    if not options.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = _instantiate_group(cfg.get("logger"))
    if not loggers:  # the lr is in the record's history; LearningRateMonitor needs a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    plugins: list[Any] = [AtomicCheckpointIO()]
    if SLURMEnvironment.detect():  # Preemption saves and stops; submitit or SLURM requeue, not Lightning
        plugins.append(SLURMEnvironment(auto_requeue=False))
    return L.Trainer(
        **options,
        callbacks=callbacks,
        logger=loggers or False,
        default_root_dir=str(run_dir),
        plugins=plugins,
    )


def prepare(cfg: DictConfig, run_dir: Path) -> Prepared:
    """Check the config, load the data, build the model and the trainer (no training yet)."""
    check_config(cfg)
    splits = build_splits(cfg.dataset)
    datamodule = CvzooDataModule(
        splits, int(cfg.dataset.batch_size), int(cfg.dataset.num_workers), seed=int(cfg.seed)
    )
    container = OmegaConf.to_container(cfg, resolve=True)
    module = CvzooModule(container, splits.class_names, splits.ignore_index)
    stats = RunStats()
    trainer = build_trainer(cfg, stats, run_dir)
    if cfg.trainer.get("compile", False):
        module.model.compile()
    return Prepared(splits, datamodule, module, trainer, stats)
