"""``export.py``'s work: checkpoint -> checked ONNX (+ fp16, TensorRT) -> card and parity report."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from rich.console import Console

from cvzoo.errors import CvzooError, ModelError
from cvzoo.export.card import CARD_NAME, build_card, metadata_props, set_metadata, write_json
from cvzoo.export.onnx_export import DEFAULT_OPSET, OnnxExport, export_onnx, simplify, to_fp16
from cvzoo.export.parity import (
    ParityError,
    Runner,
    check_inputs,
    failure_line,
    run_checks,
    summary,
    tolerance_from,
)
from cvzoo.export.runtimes import opencv_check, ort_runner
from cvzoo.export.wrapper import ImageInputModel, check_input_format, to_input_format
from cvzoo.inference.calibration import CALIBRATION_NAME, load_calibration
from cvzoo.inference.checkpoint import CheckpointMeta, load_checkpoint, run_dir_of
from cvzoo.inference.inputs import load_split
from cvzoo.inference.source import resolve_source

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


@contextlib.contextmanager
def _step(console: Console | None, text: str) -> Iterator[None]:
    """Show a spinner while a step runs, then one line with its duration."""
    if console is None:
        yield
        return
    start = time.perf_counter()
    with console.status(text + " ..."):
        yield
    console.print(f"[green]done[/] {text} ({time.perf_counter() - start:.1f} s)")


def torch_reference(wrapper: ImageInputModel) -> Runner:
    """The eager model on uint8 NHWC batches (converted to the wrapper's input format)."""

    @torch.inference_mode()
    def run(images: np.ndarray) -> np.ndarray:
        return wrapper(torch.from_numpy(to_input_format(images, wrapper.input_format))).float().numpy()

    return run


def validation_images(meta: CheckpointMeta, count: int) -> tuple[np.ndarray | None, str]:
    """A real validation batch rebuilt from the checkpoint's dataset config, or why there is none."""
    name = meta.cfg["dataset"].get("name")
    try:
        images, _ = load_split(meta.cfg["dataset"], "val", limit=count)
    except (CvzooError, OSError, KeyError, ValueError) as err:
        return None, f"dataset {name} unavailable ({err}); random inputs only"
    return images, f"{len(images)} validation images of {name} + random inputs"


def second_size(size: int, traced: int, max_stride: int, override: Any = None) -> int:
    """A size unlike the export and trace sizes, to prove dynamic H/W (a multiple of the largest stride)."""
    if override is not None:
        return int(override)
    candidate = traced + max_stride
    return candidate if candidate != size else candidate + max_stride


def export_checked(
    wrapper: ImageInputModel,
    meta: CheckpointMeta,
    opts: ExportOptions,
    validation: np.ndarray | None,
    console: Console | None,
) -> tuple[OnnxExport, dict[str, Any], list[int]]:
    """Export dynamic H/W when asked and parity at two sizes holds; else fixed size (parity must hold)."""
    stride = max(wrapper.model.adapter.info.strides)
    tol, batch, size = tolerance_from(opts.parity), int(opts.parity.get("batch_size", 8)), meta.image_size
    reference = torch_reference(wrapper)
    attempt: dict[str, Any] | None = None
    if opts.dynamic:
        try:
            with _step(console, "exporting ONNX (dynamic batch, height, width)"):
                exported = export_onnx(
                    wrapper, opts.input_format, size, True, stride, opts.opset, opts.optimize
                )
            exported.model = _simplified(exported.model, opts)
            sizes = [size, second_size(size, exported.trace_size, stride, opts.parity.get("second_size"))]
            if exported.dynamic_hw:
                with _step(console, f"parity at {sizes[0]} and {sizes[1]} px"):
                    rows = run_checks(
                        ort_runner(exported.model, opts.input_format),
                        reference,
                        check_inputs(validation, sizes, batch),
                        tol,
                    )
                attempt = summary(rows, tol)
                if attempt["ok"]:
                    return exported, attempt, sizes
                attempt["note"] = failure_line("dynamic-size", attempt) + "; exported fixed-size instead"
            else:
                attempt = {"ok": False, "note": "the exporter fixed height/width; exported fixed-size"}
        except ModelError as err:
            attempt = {"ok": False, "note": f"{err}; exported fixed-size instead"}
    with _step(console, "exporting ONNX (dynamic batch, fixed size)"):
        exported = export_onnx(wrapper, opts.input_format, size, False, stride, opts.opset, opts.optimize)
    exported.model = _simplified(exported.model, opts)
    with _step(console, f"parity at {size} px"):
        rows = run_checks(
            ort_runner(exported.model, opts.input_format),
            reference,
            check_inputs(validation, [size], batch),
            tol,
        )
    report = summary(rows, tol)
    if attempt is not None:
        report["dynamic_attempt"] = attempt
    return exported, report, [size]


def _simplified(model: onnx.ModelProto, opts: ExportOptions) -> onnx.ModelProto:
    """The graph after the optional simplification pass."""
    return simplify(model)[0] if opts.simplify else model


def export_fp16(
    model: onnx.ModelProto, path: Path, reference: Runner, inputs: list, opts: ExportOptions
) -> dict[str, Any]:
    """Write the float16 graph and check it against the eager float32 model (fp16 tolerances)."""
    half = to_fp16(model)
    onnx.save(half, str(path))
    tol = tolerance_from(opts.parity, "fp16_")
    return summary(run_checks(ort_runner(half, opts.input_format), reference, inputs, tol), tol)


def _fail(out: Path, report: dict[str, Any], what: str, part: Mapping[str, Any]) -> None:
    """Write the parity report and raise the one-line parity error."""
    report["ok"] = False
    write_json(out / PARITY_NAME, report)
    raise ParityError(failure_line(what, part) + f"; see {out / PARITY_NAME} (tolerances: parity.*)")


def _check_options(opts: ExportOptions) -> None:
    """Fail before any work on a bad option (including TensorRT that is not installed)."""
    check_input_format(opts.input_format)
    if opts.tensorrt:
        from cvzoo.export.tensorrt import tensorrt_backend

        tensorrt_backend()


def export_model(opts: ExportOptions) -> dict[str, Any]:
    """Export, check and describe one checkpoint; return the card (ParityError when parity fails)."""
    _check_options(opts)
    console = Console(stderr=True) if opts.progress else None
    source = resolve_source(opts.ckpt, opts.sweep, opts.pick)
    model, meta = load_checkpoint(source.checkpoint)
    out = Path(opts.out) if opts.out else run_dir_of(source.checkpoint) / "export"
    out.mkdir(parents=True, exist_ok=True)
    validation, data_note = validation_images(meta, int(opts.parity.get("batch_size", 8)))
    wrapper = ImageInputModel(model, opts.input_format).eval()
    exported, onnx_report, sizes = export_checked(wrapper, meta, opts, validation, console)
    report: dict[str, Any] = {"ok": True, "data": data_note, "onnx": onnx_report}
    if not onnx_report["ok"]:
        _fail(out, report, "ONNX", onnx_report)
    onnx_path = out / "model.onnx"
    set_metadata(
        exported.model, metadata_props(meta, opts.input_format, exported.dynamic_hw and len(sizes) > 1)
    )
    onnx.save(exported.model, str(onnx_path))
    files = {"onnx": onnx_path.name}
    batch = int(opts.parity.get("batch_size", 8))
    inputs, reference = check_inputs(validation, sizes, batch), torch_reference(wrapper)
    if opts.fp16:
        with _step(console, "float16 graph + parity"):
            report["fp16"] = export_fp16(exported.model, out / "model.fp16.onnx", reference, inputs, opts)
        files["onnx_fp16"] = "model.fp16.onnx"
        if not report["fp16"]["ok"]:
            _fail(out, report, "float16", report["fp16"])
    if opts.opencv:
        with _step(console, "OpenCV DNN check"):
            images = inputs[0][2]
            report["opencv"] = opencv_check(
                onnx_path, images, reference(images), opts.input_format, tolerance_from(opts.parity)
            )
    if opts.tensorrt:
        report["tensorrt"], trt_files = _tensorrt(onnx_path, out, opts, sizes, reference, inputs, console)
        files.update(trt_files)
        if not report["tensorrt"]["ok"]:
            _fail(out, report, "TensorRT", report["tensorrt"])
    write_json(out / PARITY_NAME, report)
    calibration = load_calibration(meta.run_dir)
    if calibration is not None:
        shutil.copyfile(meta.run_dir / CALIBRATION_NAME, out / CALIBRATION_NAME)
    details = {
        "input_format": opts.input_format,
        "dynamic_hw": len(sizes) > 1,
        "tested_sizes": sizes,
        "trace_size": exported.trace_size,
        "opset": opts.opset,
        "export_seconds": round(exported.seconds, 2),
        "simplified": opts.simplify,
        "files": files,
    }
    parity_summary = {k: (v.get("ok") if isinstance(v, Mapping) else v) for k, v in report.items()}
    parity_summary["max_abs_diff"] = onnx_report["max_abs_diff"]
    card = build_card(meta, source.record, details, parity_summary, _reject_fields(calibration))
    write_json(out / CARD_NAME, card)
    card["_dir"] = str(out)
    return card


def _reject_fields(calibration: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The calibration without its curve (the card keeps the threshold and its statistics)."""
    return {k: v for k, v in calibration.items() if k != "curve"} if calibration else None


def _tensorrt(
    onnx_path: Path,
    out: Path,
    opts: ExportOptions,
    sizes: list[int],
    reference: Runner,
    inputs: list,
    console: Console | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Build the TensorRT engine and check it (fp16 tolerances when fp16 is on)."""
    from cvzoo.export.tensorrt import tensorrt_runner

    with _step(console, "TensorRT engine + parity"):
        runner, files = tensorrt_runner(onnx_path, out, opts.input_format, opts.fp16, sizes, len(sizes) > 1)
        tol = tolerance_from(opts.parity, "fp16_" if opts.fp16 else "")
        return summary(run_checks(runner, reference, inputs, tol), tol), files
