"""Per-job setup inside a sweep: resume decisions and parallel-worker resources."""

from __future__ import annotations

import logging
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from cvzoo.results import config_hash
from cvzoo.sweeps.devices import claim_gpu, split_threads
from cvzoo.sweeps.resume import (
    find_previous,
    link_reused,
    record_dirs,
    resumable_checkpoint,
    resume_requested,
    unlink_reused,
)
from cvzoo.training.epoch_control import stop_after_epochs

log = logging.getLogger(__name__)


def parallel_jobs() -> int:
    """How many jobs the active Hydra launcher runs at once (1 outside a parallel launcher)."""
    try:
        launcher = HydraConfig.get().launcher
    except ValueError:
        return 1
    return int(launcher.get("n_jobs", 1) or 1) if launcher is not None else 1


def configure_parallel_job(cfg: DictConfig) -> None:
    """In a parallel launcher: quiet progress, one GPU per job or a share of the CPU threads."""
    n_jobs = parallel_jobs()
    if n_jobs <= 1:
        return
    with open_dict(cfg):
        cfg.trainer.enable_progress_bar = False
    gpu = claim_gpu()
    if gpu is None:
        threads = split_threads(n_jobs)
        log.info("parallel job on CPU with %d threads", threads)
    else:
        with open_dict(cfg):
            cfg.trainer.devices = [gpu]
        log.info("parallel job on cuda:%d", gpu)


def own_dir(cfg: DictConfig) -> str:
    """The sweep directory of a multirun job, else the run's own directory."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return str(cfg.paths.output_dir)
    return str(hydra_cfg.sweep.dir if hydra_cfg.mode == RunMode.MULTIRUN else hydra_cfg.runtime.output_dir)


def reuse_or_resume(cfg: DictConfig) -> dict[str, Any] | None:
    """With resume on: the ok record of an identical config (skip), else continue from its checkpoint.

    Searched: the sweep (or run) directory, ``paths.log_dir`` and ``resume_from``.
    """
    if not resume_requested(cfg):
        return None
    digest = config_hash(OmegaConf.to_container(cfg, resolve=True))
    dirs = record_dirs(own_dir(cfg), str(cfg.paths.log_dir), cfg.get("resume_from"))
    done, unfinished = find_previous(dirs, digest, stop_after_epochs(cfg.trainer.get("stop_after_epochs")))
    if done is not None:
        link_reused(str(cfg.paths.output_dir), done)  # also when it is this job's own directory
        return done
    unlink_reused(str(cfg.paths.output_dir))
    checkpoint, notes = resumable_checkpoint(unfinished)
    for note in notes:
        log.warning("resume: %s", note)
    if checkpoint and not cfg.get("ckpt_path"):
        with open_dict(cfg):
            cfg.ckpt_path = checkpoint
        log.info("resume: continuing the half-done run from %s", checkpoint)
    elif unfinished and not checkpoint:
        log.warning("resume: no whole checkpoint left by %s; this cell starts over", unfinished[0]["run_dir"])
    return None
