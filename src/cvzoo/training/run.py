"""One training run: prepare, fit, test, and always leave a ``result.json`` behind."""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from cvzoo.errors import CvzooError, DivergedError
from cvzoo.models.backbones import requested_pretrained
from cvzoo.results import config_hash, write_record
from cvzoo.results.record import COMPLETE, FAILED, PAUSED, PROMOTED, load_record
from cvzoo.training.distributed import (
    ddp_world_size,
    leave_process_group,
    one_device_config,
    one_process_config,
    run_ranks,
)
from cvzoo.training.environment import count_flops, device_name, library_versions
from cvzoo.training.epoch_control import stop_after_epochs
from cvzoo.training.guards import RunInterrupted
from cvzoo.training.meta import dataset_meta
from cvzoo.training.oom import free_memory, half_batch_config, is_out_of_memory, oom_message
from cvzoo.training.setup import Prepared, build_trainer, prepare
from cvzoo.training.stats import RunStats

log = logging.getLogger(__name__)


def _now() -> str:
    """The current time in ISO 8601 with the local offset."""
    return dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


def describe(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """The record fields known before anything runs."""
    config = OmegaConf.to_container(cfg, resolve=True)
    choices = lambda group: str(cfg[group].get("name", "")) if cfg.get(group) else None  # noqa: E731
    return {
        "status": "running",
        "error": None,
        "run_dir": str(run_dir),
        "started_at": _now(),
        "task": str(cfg.dataset.task),
        "backbone": str(cfg.backbone.name),
        "head": str(cfg.head.name),
        "dataset": str(cfg.dataset.name),
        "fraction": float(cfg.dataset.get("fraction", 1.0)),
        "seed": int(cfg.seed),
        "augmentation": list(cfg.augmentation.keys()) if cfg.get("augmentation") else [],
        "optimizer": choices("optimizer"),
        "scheduler": choices("scheduler"),
        "monitor": str(cfg.monitor),
        "monitor_mode": str(cfg.monitor_mode),
        "pretrained_requested": requested_pretrained(cfg.backbone.get("pretrained", "auto")),
        "config": config,
        "config_hash": config_hash(config),
        "versions": library_versions(),
    }


def _metrics(trainer: L.Trainer, prefix: str) -> dict[str, float]:
    """Scalar callback metrics whose name starts with ``prefix``."""
    out = {}
    for key, value in trainer.callback_metrics.items():
        if key.startswith(prefix) and isinstance(value, torch.Tensor) and value.numel() == 1:
            out[key] = float(value)
    return out


def fit_and_test(cfg: DictConfig, run_dir: Path, record: dict[str, Any]) -> None:
    """Prepare, fit and test; fill ``record`` as facts become known."""
    prepared: Prepared = prepare(cfg, run_dir)
    module, trainer, stats = prepared.module, prepared.trainer, prepared.stats
    record.update(
        params=module.model_info.params,
        flops_per_image=count_flops(module.model, int(cfg.dataset.image_size)),
        pretrained_loaded=module.model_info.pretrained_loaded,
        pretrained_file=module.model_info.pretrained_file,
        train_images=len(prepared.splits.train),
        class_names=prepared.splits.class_names,
        dataset_meta=dataset_meta(prepared.splits, cfg.dataset, Path(str(cfg.paths.data_dir)) / ".cache"),
        data_cache=prepared.splits.extra.get("data_cache"),
    )
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=prepared.datamodule, ckpt_path=cfg.get("ckpt_path"))
    finally:
        per_process = stats.images_per_second
        record.update(
            train_time_s=time.perf_counter() - start,
            train_images_per_s=per_process * trainer.world_size if per_process else per_process,
            world_size=trainer.world_size,
            epochs=trainer.current_epoch,
            history=stats.history,
            device=device_name(module.device),
        )
    if trainer.interrupted:
        raise CvzooError("training was interrupted; resume with ckpt_path=<run dir>/checkpoints/last.ckpt")
    record["best_val"] = {
        k: v for k, v in stats.best(str(cfg.monitor), str(cfg.monitor_mode)).items() if k.startswith("val/")
    }
    record["final_val"] = _metrics(trainer, "val/")
    checkpoint = trainer.checkpoint_callback
    best = getattr(checkpoint, "best_model_path", "") or None
    record.update(checkpoint=best, last_checkpoint=getattr(checkpoint, "last_model_path", "") or None)
    if cfg.get("test", True):
        if trainer.world_size > 1:  # test once on the whole split, not on padded shards
            if not leave_process_group(trainer):
                return
            trainer = build_trainer(one_device_config(cfg, trainer), RunStats(), run_dir)
        trainer.test(module, datamodule=prepared.datamodule, ckpt_path=best, weights_only=False)
        record["test"] = _metrics(trainer, "test/")
        names = prepared.splits.class_names
        record["per_class"] = {
            "names": names,
            f"test/{module.per_class_name}": module.per_class_values,
        }
        record["confusion_matrix"] = module.confusion_values
        if module.curve_values:  # only tasks that declare curves (detection: precision-recall)
            record["curves"] = module.curve_values


def summary_line(record: dict[str, Any]) -> str:
    """One line a person reads when a run ends: cell, status, metrics, time, run dir."""
    monitor = record.get("monitor", "")
    best = (record.get("best_val") or {}).get(monitor)
    tests = record.get("test") or {}
    main_test = monitor.replace("val/", "test/", 1)
    parts = [
        f"{record.get('backbone')} + {record.get('head')} on {record.get('dataset')}",
        record["status"],
    ]
    if best is not None:
        parts.append(f"{monitor}={best:.4f}")
    if main_test in tests:
        parts.append(f"{main_test}={tests[main_test]:.4f}")
    if record.get("train_time_s") is not None:
        parts.append(f"{record['train_time_s']:.0f}s")
    if record.get("error"):
        parts.append(str(record["error"]).splitlines()[0][:200])
    return " | ".join(parts) + f" | {record.get('run_dir')}"


def monitored_value(record: dict[str, Any]) -> float:
    """The best monitored value of a record (nan when the run did not produce one)."""
    value = (record.get("best_val") or {}).get(str(record.get("monitor")))
    return float(value) if value is not None else float("nan")


def _train(cfg: DictConfig, run_dir: Path, record: dict[str, Any]) -> None:
    """Fit and test in this process or on DDP ranks."""
    world = ddp_world_size(cfg.trainer)
    if world > 1:
        run_ranks(cfg, run_dir, record, world)
    else:
        fit_and_test(one_process_config(cfg), run_dir, record)


def _train_or_retry(cfg: DictConfig, run_dir: Path, record: dict[str, Any]) -> None:
    """Train; on out of memory with ``trainer.oom_retry`` train once more at half the batch size."""
    try:
        _train(cfg, run_dir, record)
    except Exception as err:
        if not (is_out_of_memory(err) and cfg.trainer.get("oom_retry", False)):
            raise
        retry, note = half_batch_config(cfg)
        log.warning(
            "%s; retrying at batch size %d, lr %g", oom_message(cfg, False), note["batch_size"], note["lr"]
        )
        free_memory()
        record["oom_retry"] = note
        try:
            _train(retry, run_dir, record)
        except Exception as again:
            again.oom_config = retry  # type: ignore[attr-defined] - the batch size of the failed retry
            raise


def stop_reason(cfg: DictConfig, epochs: int) -> str:
    """``paused`` when ``trainer.stop_after_epochs`` ended an ok run early, else ``complete``
    (trained to ``trainer.max_epochs`` or stopped by its own rule, e.g. early stopping)."""
    target = stop_after_epochs(cfg.trainer.get("stop_after_epochs"))
    return PAUSED if target and epochs >= target and epochs < int(cfg.trainer.max_epochs) else COMPLETE


def earlier_progress(run_dir: Path, digest: str) -> dict[str, Any]:
    """Epochs and history of the record a continued run replaces (kept while it is running), and
    ``stop_reason: promoted`` when a guided sweep marked it so."""
    try:
        earlier = load_record(run_dir)
    except (OSError, ValueError):
        return {}
    if earlier.get("config_hash") != digest:
        return {}
    kept = {k: earlier[k] for k in ("epochs", "history", "best_val") if earlier.get(k) is not None}
    if earlier.get("stop_reason") == PROMOTED:  # a guided sweep is continuing it
        kept["stop_reason"] = PROMOTED
    return kept


def failure(cfg: DictConfig, err: BaseException) -> tuple[str, str]:
    """The record's status and one-line error for an exception that ended a run."""
    if isinstance(err, RunInterrupted | SIGTERMException):
        return "interrupted", str(err) or "interrupted by SIGTERM; continue with +resume=true"
    if is_out_of_memory(err):
        retried = getattr(err, "oom_config", None)
        return "failed", oom_message(retried if retried is not None else cfg, retried is not None)
    status = "diverged" if isinstance(err, DivergedError) else "failed"
    return status, str(err) if isinstance(err, CvzooError) else f"{type(err).__name__}: {err}"


def run_training(cfg: DictConfig) -> dict[str, Any]:
    """Train and test one config; write its record and return it.

    Raises the run's error after the record is written (status ``failed``, ``diverged`` or
    ``interrupted``). A run started from ``ckpt_path`` says so in ``resumed_from`` and keeps the
    replaced record's history until it ends; ``stop_reason`` says why training stopped.
    """
    run_dir = Path(str(cfg.paths.output_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    record = describe(cfg, run_dir)
    record["resumed_from"] = cfg.get("ckpt_path")
    if record["resumed_from"]:
        record.update(earlier_progress(run_dir, record["config_hash"]))
    write_record(run_dir, record)
    try:
        _train_or_retry(cfg, run_dir, record)
        record["status"] = "ok"
        record["stop_reason"] = stop_reason(cfg, int(record.get("epochs") or 0))
    except BaseException as err:
        record["status"], record["error"] = failure(cfg, err)
        record["stop_reason"] = PAUSED if record["status"] == "interrupted" else FAILED
        (run_dir / "error.log").write_text(getattr(err, "rank_traceback", None) or traceback.format_exc())
        err.record = record  # type: ignore[attr-defined] - lets callers print the summary
        raise
    finally:
        record["finished_at"] = _now()
        write_record(run_dir, record)
    return record
