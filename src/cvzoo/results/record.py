"""The run record ``result.json``: one per run, written atomically, the unit every later stage reads.

Schema (version 1) -- documented in the README, keep both in sync:

- ``schema_version`` (int), ``status`` (``ok`` | ``failed`` | ``diverged`` | ``interrupted`` |
  ``running``),
  ``error`` (str | null), ``run_dir``, ``started_at`` / ``finished_at`` (ISO 8601),
- ``config`` (the resolved Hydra config), ``config_hash`` (hash of ``config`` minus paths),
- ``task``, ``backbone``, ``head``, ``dataset``, ``fraction``, ``seed``, ``epochs``,
  ``augmentation``, ``optimizer``, ``scheduler``,
- ``monitor`` / ``monitor_mode`` (the optimized metric), ``best_val``, ``final_val``, ``test``
  (dicts ``metric name -> float``, names such as ``val/acc`` / ``test/mIoU``), ``history``
  (one dict per epoch with ``epoch``, ``train/loss`` and the val metrics),
- ``per_class`` (``{"names": [...], "test/iou": [...]}`` for segmentation,
  ``test/recall`` for classification, ``test/ap`` (AP@[.5:.95]) for detection; the field is the
  task's ``per_class_field`` in ``cvzoo.tasks``),
- ``confusion_matrix`` (test split, rows = true class, columns = predicted class; empty for
  detection),
- ``curves`` (only for tasks that declare ``curve_charts``: detection's ``test/pr@0.5`` is
  ``{"recall": [101 points], "precision": [mean over classes, null where undefined]}``),
- ``dataset_meta`` (dataset meta-features of the training split, for the boosting predictor),
- ``class_names``, ``params``, ``flops_per_image``, ``train_time_s``, ``train_images_per_s``,
  ``train_images``,
- ``device``, ``versions`` (python, torch, timm, lightning, ...), ``checkpoint`` / ``last_checkpoint``,
- ``pretrained_requested`` (``auto`` | ``true`` | ``false`` | a weights file), ``pretrained_loaded``
  (bool) and ``pretrained_file`` (the local file the weights came from, a hub id, or null).
- ``stop_reason`` (``complete``: trained to ``trainer.max_epochs``; ``paused``: stopped earlier by
  ``trainer.stop_after_epochs`` or a signal, continuable from ``last.ckpt``; ``promoted``: a guided
  sweep is continuing it; ``failed``),
- ``resumed_from`` (the checkpoint a continued run started from, else null) and ``oom_retry``
  (``{batch_size, lr, from_batch_size, from_lr}`` when the run was retried after out of memory).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvzoo.faults import write_with_faults

SCHEMA_VERSION = 1
RECORD_NAME = "result.json"
# Why a run's training stopped (``stop_reason``).
COMPLETE, PAUSED, PROMOTED, FAILED = "complete", "paused", "promoted", "failed"
# Config keys that say where things go or how they are shown, not what is computed: excluded from
# the config hash (dotted keys reach into groups).
_PATH_KEYS = ("paths", "hydra", "logger", "callbacks", "ckpt_path", "resume", "resume_from")
_VIEW_KEYS = (
    ("trainer", "enable_progress_bar"),
    ("trainer", "devices"),
    ("trainer", "oom_retry"),
    ("trainer", "stop_after_epochs"),  # how far a run got is its record's epochs, not its identity
    ("dataset", "num_workers"),
)


def _jsonable(value: Any) -> Any:
    """Turn floats that JSON cannot hold (nan, inf) into null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def write_record(run_dir: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as ``run_dir/result.json`` atomically (temp file + rename)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    body = {"schema_version": SCHEMA_VERSION, **record}
    text = json.dumps(_jsonable(body), indent=2, sort_keys=False, default=str)
    fd, tmp = tempfile.mkstemp(prefix=".result.", suffix=".json", dir=run_dir)
    with os.fdopen(fd, "wb") as handle:
        write_with_faults(handle, (text + "\n").encode(), "record_write")
        handle.flush()
        os.fsync(handle.fileno())
    target = run_dir / RECORD_NAME
    os.replace(tmp, target)
    return target


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read one ``result.json`` (a file or the run directory holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_NAME
    with path.open() as handle:
        record = json.load(handle)
    record.setdefault("run_dir", str(path.parent))
    return record


def config_hash(config: Mapping[str, Any]) -> str:
    """Hash of a resolved config without its path-like keys: equal hashes mean the same cell."""
    kept = {k: v for k, v in config.items() if k not in _PATH_KEYS}
    for group, key in _VIEW_KEYS:
        if isinstance(kept.get(group), Mapping):
            kept[group] = {k: v for k, v in kept[group].items() if k != key}
    text = json.dumps(_jsonable(kept), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def get_value(record: Mapping[str, Any], key: str) -> Any:
    """Look up ``key`` in a record: a top-level field, a metric (``val/acc``) or a dotted config key."""
    if key in record:
        return record[key]
    for section in ("test", "best_val", "final_val"):
        metrics = record.get(section) or {}
        if key in metrics:
            return metrics[key]
    node: Any = record.get("config", {})
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
