"""Export with proof: dynamic H/W only when parity at a second size holds, else fixed size; re-verify."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from rich.console import Console

from cvzoo.errors import CvzooError, ModelError
from cvzoo.export.card import read_card
from cvzoo.export.onnx_export import OnnxExport, export_onnx, simplify
from cvzoo.export.parity import (
    ParityError,
    Runner,
    Tolerance,
    check_inputs,
    failure_line,
    run_checks,
    summary,
    tolerance_from,
)
from cvzoo.export.runtimes import ort_runner
from cvzoo.export.wrapper import ImageInputModel, to_input_format
from cvzoo.inference.checkpoint import CheckpointMeta, load_checkpoint
from cvzoo.inference.inputs import load_split


@contextlib.contextmanager
def step(console: Console | None, text: str) -> Iterator[None]:
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
    """A validation batch of the checkpoint's dataset, fitted as validation fits it, or why there is none."""
    name = meta.cfg["dataset"].get("name")
    try:
        images, _ = load_split(meta.cfg["dataset"], "val", limit=count)
    except (CvzooError, OSError, KeyError, ValueError) as err:
        return None, f"dataset {name} unavailable ({err}); random inputs only"
    return images, f"{len(images)} validation images of {name} + random inputs"


def second_size(size: int, traced: int, max_stride: int, override: Any = None) -> int:
    """A size unlike the export and trace sizes that proves dynamic H/W (trace size + largest stride)."""
    if override is not None:
        return int(override)
    candidate = traced + max_stride
    return candidate if candidate != size else candidate + max_stride


def check_graph(
    model: onnx.ModelProto | Path,
    wrapper: ImageInputModel,
    validation: np.ndarray | None,
    sizes: list[int],
    tol: Tolerance,
    batch: int,
) -> dict[str, Any]:
    """Parity of an ONNX graph (or file) with the eager model at every size."""
    inputs = check_inputs(validation, sizes, batch)
    rows = run_checks(ort_runner(model, wrapper.input_format), torch_reference(wrapper), inputs, tol)
    return summary(rows, tol)


def _try_dynamic(
    wrapper: ImageInputModel, size: int, opts: Any, validation: np.ndarray | None, console: Console | None
) -> tuple[OnnxExport | None, dict[str, Any], list[int]]:
    """Export with dynamic H/W and check it at the export size and a second size."""
    stride = max(wrapper.model.adapter.info.strides)
    try:
        with step(console, "exporting ONNX (dynamic batch, height, width)"):
            exported = export_onnx(wrapper, opts.input_format, size, True, stride, opts.opset, opts.optimize)
    except ModelError as err:
        return None, {"ok": False, "note": f"{err}; exported fixed-size instead"}, [size]
    if opts.simplify:
        exported.model = simplify(exported.model)[0]
    if not exported.dynamic_hw:
        return None, {"ok": False, "note": "the exporter fixed height/width; exported fixed-size"}, [size]
    sizes = [size, second_size(size, exported.trace_size, stride, opts.parity.get("second_size"))]
    with step(console, f"parity at {sizes[0]} and {sizes[1]} px"):
        tol, batch = tolerance_from(opts.parity), int(opts.parity.get("batch_size", 8))
        report = check_graph(exported.model, wrapper, validation, sizes, tol, batch)
    if not report["ok"]:
        report["note"] = failure_line("dynamic-size", report) + "; exported fixed-size instead"
        return None, report, sizes
    return exported, report, sizes


def export_checked(
    wrapper: ImageInputModel,
    meta: CheckpointMeta,
    opts: Any,
    validation: np.ndarray | None,
    console: Console | None,
) -> tuple[OnnxExport, dict[str, Any], list[int]]:
    """Dynamic H/W when asked and parity at two sizes holds; else fixed size. Returns graph, report, sizes."""
    size, attempt = meta.image_size, None
    if opts.dynamic:
        exported, attempt, sizes = _try_dynamic(wrapper, size, opts, validation, console)
        if exported is not None:
            return exported, attempt, sizes
    stride = max(wrapper.model.adapter.info.strides)
    with step(console, "exporting ONNX (dynamic batch, fixed size)"):
        exported = export_onnx(wrapper, opts.input_format, size, False, stride, opts.opset, opts.optimize)
    if opts.simplify:
        exported.model = simplify(exported.model)[0]
    with step(console, f"parity at {size} px"):
        tol, batch = tolerance_from(opts.parity), int(opts.parity.get("batch_size", 8))
        report = check_graph(exported.model, wrapper, validation, [size], tol, batch)
    if attempt is not None:
        report["dynamic_attempt"] = attempt
    return exported, report, [size]


def verify_onnx(
    path: str | Path, ckpt: str | Path | None = None, parity: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Re-run the parity check of an exported ONNX against its checkpoint (ParityError when it fails)."""
    path = Path(path)
    card = read_card(path) or {}
    ckpt = ckpt or (card.get("source") or {}).get("checkpoint")
    if not ckpt:
        raise ModelError(f"no model.json next to {path} names its checkpoint; pass ckpt=")
    model, meta = load_checkpoint(ckpt)
    wrapper = ImageInputModel(model, str((card.get("input") or {}).get("format", "uint8"))).eval()
    sizes = list((card.get("input") or {}).get("tested_sizes") or [meta.image_size])
    tol, batch = tolerance_from(parity), int((parity or {}).get("batch_size", 8))
    validation, _ = validation_images(meta, batch)
    report = check_graph(path, wrapper, validation, sizes, tol, batch)
    if not report["ok"]:
        raise ParityError(failure_line(f"{path.name}", report))
    return report
