"""``export.py``'s work: checkpoint -> checked ONNX (+ fp16, TensorRT, OpenCV check) -> card and report."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from rich.console import Console

from cvzoo.export.card import CARD_NAME, build_card, metadata_props, set_metadata, write_json
from cvzoo.export.checks import export_checked, step, torch_reference, validation_images
from cvzoo.export.onnx_export import DEFAULT_OPSET, OnnxExport, to_fp16
from cvzoo.export.parity import ParityError, check_inputs, failure_line, run_checks, summary, tolerance_from
from cvzoo.export.runtimes import opencv_check, ort_runner
from cvzoo.export.wrapper import ImageInputModel, check_input_format
from cvzoo.inference.calibration import CALIBRATION_NAME, load_calibration
from cvzoo.inference.checkpoint import CheckpointMeta, load_checkpoint, run_dir_of
from cvzoo.inference.source import Source, resolve_source

PARITY_NAME = "parity.json"
FORMATS = ("onnx", "tensorrt")


@dataclass
class ExportOptions:
    """What to export and how (mirrors ``configs/export.yaml``)."""

    ckpt: str | None = None
    sweep: str | None = None
    pick: str | None = None
    out: str | None = None
    input_format: str = "uint8"
    opset: int = DEFAULT_OPSET
    dynamic: bool = True
    optimize: bool = True
    simplify: bool = False
    fp16: bool = False
    tensorrt: bool = False
    opencv: bool = True
    parity: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass
class ExportJob:
    """One export in progress: the model, where files go, and what has been checked."""

    opts: ExportOptions
    source: Source
    meta: CheckpointMeta
    wrapper: ImageInputModel
    out: Path
    validation: np.ndarray | None
    console: Console | None
    report: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)

    def inputs(self) -> list:
        """The parity batches at the exported sizes."""
        return check_inputs(self.validation, self.sizes, int(self.opts.parity.get("batch_size", 8)))

    def fail(self, what: str, part: Mapping[str, Any]) -> None:
        """Write the parity report and raise the one-line parity error."""
        self.report["ok"] = False
        write_json(self.out / PARITY_NAME, self.report)
        line = failure_line(what, part)
        raise ParityError(f"{line}; see {self.out / PARITY_NAME} (tolerances: parity.*)")


def _start(opts: ExportOptions) -> ExportJob:
    """Validate options (TensorRT availability first), find and load the checkpoint, fetch data."""
    check_input_format(opts.input_format)
    if opts.tensorrt:
        from cvzoo.export.tensorrt import tensorrt_backend

        tensorrt_backend()
    source = resolve_source(opts.ckpt, opts.sweep, opts.pick)
    model, meta = load_checkpoint(source.checkpoint)
    out = Path(opts.out) if opts.out else run_dir_of(source.checkpoint) / "export"
    out.mkdir(parents=True, exist_ok=True)
    validation, note = validation_images(meta, int(opts.parity.get("batch_size", 8)))
    console = Console(stderr=True) if opts.progress else None
    job = ExportJob(
        opts, source, meta, ImageInputModel(model, opts.input_format).eval(), out, validation, console
    )
    job.report = {"ok": True, "data": note}
    return job


def _save_onnx(job: ExportJob, exported: OnnxExport) -> Path:
    """Embed the metadata and write ``model.onnx``."""
    path = job.out / "model.onnx"
    props = metadata_props(job.meta, job.opts.input_format, len(job.sizes) > 1)
    onnx.save(set_metadata(exported.model, props), str(path))
    job.files["onnx"] = path.name
    return path


def _fp16(job: ExportJob, model: onnx.ModelProto) -> None:
    """Write ``model.fp16.onnx`` and check it against the float32 eager model (fp16 tolerances)."""
    with step(job.console, "float16 graph + parity"):
        half = to_fp16(model)
        onnx.save(half, str(job.out / "model.fp16.onnx"))
        tol = tolerance_from(job.opts.parity, "fp16_")
        rows = run_checks(
            ort_runner(half, job.opts.input_format), torch_reference(job.wrapper), job.inputs(), tol
        )
        job.report["fp16"] = summary(rows, tol)
    job.files["onnx_fp16"] = "model.fp16.onnx"
    if not job.report["fp16"]["ok"]:
        job.fail("float16", job.report["fp16"])


def _opencv(job: ExportJob, path: Path) -> None:
    """Report whether OpenCV DNN loads and runs the graph like torch."""
    with step(job.console, "OpenCV DNN check"):
        images = job.inputs()[0][2]
        expected = torch_reference(job.wrapper)(images)
        tol = tolerance_from(job.opts.parity)
        job.report["opencv"] = opencv_check(path, images, expected, job.opts.input_format, tol)


def _tensorrt(job: ExportJob, path: Path) -> None:
    """Build the TensorRT engine and check it (fp16 tolerances when fp16 is on)."""
    from cvzoo.export.tensorrt import tensorrt_runner

    with step(job.console, "TensorRT engine + parity"):
        fp16 = job.opts.fp16
        runner, files = tensorrt_runner(
            path, job.out, job.opts.input_format, fp16, job.sizes, len(job.sizes) > 1
        )
        tol = tolerance_from(job.opts.parity, "fp16_" if fp16 else "")
        job.report["tensorrt"] = summary(
            run_checks(runner, torch_reference(job.wrapper), job.inputs(), tol), tol
        )
    job.files.update(files)
    if not job.report["tensorrt"]["ok"]:
        job.fail("TensorRT", job.report["tensorrt"])


def _write_card(job: ExportJob, exported: OnnxExport) -> dict[str, Any]:
    """Write ``parity.json`` and ``model.json`` (copying the run's calibration, if any)."""
    write_json(job.out / PARITY_NAME, job.report)
    calibration = load_calibration(job.meta.run_dir)
    if calibration is not None:
        shutil.copyfile(job.meta.run_dir / CALIBRATION_NAME, job.out / CALIBRATION_NAME)
    details = {
        "input_format": job.opts.input_format,
        "dynamic_hw": len(job.sizes) > 1,
        "tested_sizes": job.sizes,
        "trace_size": exported.trace_size,
        "opset": job.opts.opset,
        "export_seconds": round(exported.seconds, 2),
        "simplified": job.opts.simplify,
        "files": job.files,
    }
    parity = {k: (v.get("ok") if isinstance(v, Mapping) else v) for k, v in job.report.items()}
    parity["max_abs_diff"] = job.report["onnx"]["max_abs_diff"]
    reject = {k: v for k, v in calibration.items() if k != "curve"} if calibration else None
    card = build_card(job.meta, job.source.record, details, parity, reject)
    write_json(job.out / CARD_NAME, card)
    return {**card, "_dir": str(job.out)}


def export_model(opts: ExportOptions) -> dict[str, Any]:
    """Export, check and describe one checkpoint; return the card (ParityError when a check fails)."""
    job = _start(opts)
    exported, job.report["onnx"], job.sizes = export_checked(
        job.wrapper, job.meta, opts, job.validation, job.console
    )
    if not job.report["onnx"]["ok"]:
        job.fail("ONNX", job.report["onnx"])
    path = _save_onnx(job, exported)
    if opts.fp16:
        _fp16(job, exported.model)
    if opts.opencv:
        _opencv(job, path)
    if opts.tensorrt:
        _tensorrt(job, path)
    return _write_card(job, exported)
