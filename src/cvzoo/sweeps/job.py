"""Per-job setup inside a sweep: resume decisions and parallel-worker resources."""

from __future__ import annotations

import logging
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from cvzoo.results import config_hash
from cvzoo.sweeps.devices import claim_gpu, split_threads
from cvzoo.sweeps.resume import find_previous, link_reused, resumable_checkpoint

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


def reuse_or_resume(cfg: DictConfig) -> dict[str, Any] | None:
    """With ``+resume=true``: the ok record of an identical config (skip), else resume its last.ckpt."""
    if not cfg.get("resume", False):
        return None
    digest = config_hash(OmegaConf.to_container(cfg, resolve=True))
    done, unfinished = find_previous(str(cfg.paths.log_dir), digest)
    if done is not None:
        link_reused(str(cfg.paths.output_dir), done)
        return done
    checkpoint = resumable_checkpoint(unfinished)
    if checkpoint and not cfg.get("ckpt_path"):
        with open_dict(cfg):
            cfg.ckpt_path = checkpoint
        log.info("resuming half-done run from %s", checkpoint)
    return None
