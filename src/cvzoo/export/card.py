"""The model card ``model.json`` and the ONNX ``metadata_props``: what a client needs besides the graph."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx

from cvzoo.errors import ModelError
from cvzoo.export.wrapper import INPUT_FORMATS
from cvzoo.inference.checkpoint import CheckpointMeta
from cvzoo.results.record import _jsonable
from cvzoo.tasks import get_task

CARD_NAME = "model.json"
# 2: ``input.geometry`` (resize before the graph); a card without it means squash to ``input.size``.
CARD_SCHEMA_VERSION = 2
META_PREFIX = "cvzoo."
_VERSIONED = ("torch", "timm", "onnx", "onnxruntime", "onnxscript", "cvzoo")


def _versions() -> dict[str, str]:
    """Versions of the libraries that produced the export."""
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def metadata_props(meta: CheckpointMeta, input_format: str, dynamic_hw: bool) -> dict[str, str]:
    """Key/value strings stored in the ONNX file itself (a card-less client can still use it)."""
    values: dict[str, Any] = {
        "task": meta.task,
        "class_names": meta.class_names,
        "image_size": meta.image_size,
        "mean": meta.mean,
        "std": meta.std,
        "input_format": input_format,
        "input_description": INPUT_FORMATS[input_format],
        "dynamic_hw": dynamic_hw,
        "ignore_index": meta.ignore_index,
        "geometry": meta.geometry.to_dict(),
        "preprocessing": meta.geometry.describe(),
        "normalization": "inside the graph: (x / 255 - mean) / std",
    }
    return {META_PREFIX + k: json.dumps(v) for k, v in values.items()}


def set_metadata(model: onnx.ModelProto, props: Mapping[str, str]) -> onnx.ModelProto:
    """Replace the model's ``metadata_props`` entries named in ``props``."""
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    return model


def read_metadata(props: Mapping[str, str]) -> dict[str, Any]:
    """Decode cvzoo's ``metadata_props`` (as returned by onnxruntime's ``custom_metadata_map``)."""
    return {k[len(META_PREFIX) :]: json.loads(v) for k, v in props.items() if k.startswith(META_PREFIX)}


def _record_facts(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metric values and identity of the training run, from its result.json."""
    if not record:
        return {}
    keys = (
        "run_dir",
        "backbone",
        "head",
        "dataset",
        "fraction",
        "seed",
        "epochs",
        "params",
        "flops_per_image",
        "monitor",
        "monitor_mode",
        "best_val",
        "final_val",
        "test",
    )
    return {k: record.get(k) for k in keys if k in record}


def build_card(
    meta: CheckpointMeta,
    record: Mapping[str, Any] | None,
    export: Mapping[str, Any],
    parity: Mapping[str, Any],
    reject: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The card: task, classes, input contract (with geometry), normalization, metrics, source, reject."""
    size = meta.image_size
    input_format = str(export["input_format"])
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "task": meta.task,
        "class_names": meta.class_names,
        "num_classes": len(meta.class_names),
        "ignore_index": meta.ignore_index,
        "input": {
            "name": "images",
            "format": input_format,
            "description": INPUT_FORMATS[input_format],
            "size": [size, size],
            "dynamic_batch": True,
            "dynamic_hw": bool(export["dynamic_hw"]),
            "tested_sizes": export.get("tested_sizes", [size]),
            "preprocessing": meta.geometry.describe(),
            "geometry": meta.geometry.to_dict(),
        },
        "normalization": {"mean": meta.mean, "std": meta.std, "scale": 1 / 255, "inside_graph": True},
        "output": {
            "name": "logits",
            "shape": get_task(meta.task).output_shape,
            "postprocess": get_task(meta.task).output_postprocess,
        },
        "files": dict(export["files"]),
        "opset": export.get("opset"),
        "export": {k: v for k, v in export.items() if k not in ("files",)},
        "metrics": _record_facts(record),
        "source": {"checkpoint": meta.checkpoint, "config": meta.cfg},
        "parity": parity,
        "reject": dict(reject) if reject else None,
        "exported_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON (non-finite floats become null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(dict(data)), indent=2, default=str) + "\n")
    return path


def card_path_for(model_path: Path) -> Path:
    """``model.json`` next to an ONNX/engine file, or inside an export directory."""
    model_path = Path(model_path)
    return model_path / CARD_NAME if model_path.is_dir() else model_path.parent / CARD_NAME


def read_card(path: Path) -> dict[str, Any] | None:
    """The card next to ``path`` (None when there is none); a corrupt card is an error."""
    card = card_path_for(path)
    if not card.is_file():
        return None
    try:
        return json.loads(card.read_text())
    except ValueError as err:
        raise ModelError(f"model card {card} is not valid JSON ({err}); re-run export.py") from err
