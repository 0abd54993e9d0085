"""Predictors: one ``predictor(images) -> logits`` API over a torch checkpoint or an exported ONNX.

Images are uint8 NHWC RGB batches at the model's input size (what ``load_batch`` returns with the
predictor's ``info.geometry``), so the two backends are timed and compared on exactly the same input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cvzoo.errors import ConfigError, ModelError
from cvzoo.export.card import read_card, read_metadata
from cvzoo.export.wrapper import ImageInputModel, to_input_format
from cvzoo.inference.checkpoint import CheckpointMeta, load_checkpoint
from cvzoo.inference.geometry import Geometry

BACKENDS = ("torch", "onnx")
CALIBRATION_NAME = "calibration.json"


@dataclass
class PredictorInfo:
    """What pre- and post-processing need: task, classes, input geometry and the reject threshold."""

    task: str
    class_names: list[str]
    geometry: Geometry
    ignore_index: int = 255
    threshold: float | None = None
    source: str = ""
    head: dict[str, Any] = field(default_factory=dict)
    """The head config (detection post-processing reads its NMS settings)."""

    @property
    def image_size(self) -> int:
        """Side of the model input."""
        return self.geometry.image_size


def _threshold(reject: Mapping[str, Any] | None) -> float | None:
    """The reject threshold stored by ``cvzoo calibrate`` (None when not calibrated)."""
    value = (reject or {}).get("threshold")
    return float(value) if value is not None else None


class TorchPredictor:
    """Run a checkpoint's model eagerly (same uint8 wrapper as the exported graph)."""

    backend = "torch"

    def __init__(self, ckpt: str | Path, device: str = "cpu") -> None:
        from cvzoo.inference.calibration import load_calibration

        model, meta = load_checkpoint(ckpt)
        self.meta: CheckpointMeta = meta
        self.device = torch.device(device)
        self.module = ImageInputModel(model, "uint8").to(self.device).eval()
        self.info = PredictorInfo(
            meta.task,
            meta.class_names,
            meta.geometry,
            meta.ignore_index,
            _threshold(load_calibration(meta.run_dir)),
            str(ckpt),
            dict(meta.cfg.get("head") or {}),
        )

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Logits for a uint8 ``(N, H, W, 3)`` batch."""
        batch = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        return self.module(batch).float().cpu().numpy()


def ort_providers(device: str = "cpu") -> list[str]:
    """onnxruntime providers to ask for: CUDA first when requested and present, CPU always."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = ["CUDAExecutionProvider"] if device.startswith("cuda") else []
    return [p for p in wanted if p in available] + ["CPUExecutionProvider"]


class OnnxPredictor:
    """Run an exported ONNX with onnxruntime; facts come from ``model.json`` or the file's metadata."""

    backend = "onnx"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"ONNX model {str(path)!r} does not exist; run export.py first")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=ort_providers(device))
        self.input_name = self.session.get_inputs()[0].name
        card = read_card(path) or {}
        facts = read_metadata(self.session.get_modelmeta().custom_metadata_map)
        if not card and not facts:
            raise ModelError(
                f"{path} has neither a model.json next to it nor cvzoo metadata; export it with export.py"
            )
        self.card = card
        given = card.get("input") or {}
        self.input_format = str(given.get("format") or facts.get("input_format", "uint8"))
        size = int(given.get("size", [facts.get("image_size")])[0])
        self.info = PredictorInfo(
            task=str(card.get("task") or facts["task"]),
            class_names=list(card.get("class_names") or facts["class_names"]),
            geometry=Geometry.from_card(given.get("geometry") or facts.get("geometry"), size),
            ignore_index=int(card.get("ignore_index", facts.get("ignore_index", 255))),
            threshold=_threshold(card.get("reject")),
            source=str(path),
            head=dict(((card.get("source") or {}).get("config") or {}).get("head") or {}),
        )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Logits for a uint8 ``(N, H, W, 3)`` batch."""
        feed = to_input_format(images, self.input_format)
        return np.asarray(self.session.run(None, {self.input_name: feed})[0], dtype=np.float32)


def _onnx_for_checkpoint(ckpt: Path) -> Path:
    """The exported ``export/model.onnx`` of a checkpoint's run (error when not exported yet)."""
    from cvzoo.inference.checkpoint import run_dir_of

    path = run_dir_of(ckpt) / "export" / "model.onnx"
    if not path.is_file():
        raise ModelError(f"backend=onnx needs {path}; export it first: python export.py ckpt={ckpt}")
    return path


def _checkpoint_for_onnx(path: Path) -> Path:
    """The source checkpoint named by an ONNX's card (error when unknown or gone)."""
    card = read_card(path) or {}
    ckpt = (card.get("source") or {}).get("checkpoint")
    if not ckpt or not Path(ckpt).is_file():
        raise ModelError(
            f"backend=torch needs the source checkpoint of {path} (card says {ckpt!r}); pass model=<ckpt>"
        )
    return Path(ckpt)


def open_predictor(
    model: str | Path, backend: str | None = None, device: str = "cpu", threads: int = 0
) -> TorchPredictor | OnnxPredictor:
    """A predictor for a ``.ckpt`` or ``.onnx`` (backend from the suffix, or either one)."""
    path = Path(str(model)).expanduser()
    if path.is_dir():
        path = path / "model.onnx"
    is_onnx = path.suffix.lower() == ".onnx"
    backend = backend or ("onnx" if is_onnx else "torch")
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} must be one of {', '.join(BACKENDS)}")
    if not path.exists():
        raise ModelError(f"model={path} does not exist; pass a checkpoint (.ckpt) or an exported model.onnx")
    if backend == "onnx":
        return OnnxPredictor(path if is_onnx else _onnx_for_checkpoint(path), device, threads)
    return TorchPredictor(_checkpoint_for_onnx(path) if is_onnx else path, device)
