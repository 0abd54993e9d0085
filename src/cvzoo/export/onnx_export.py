"""Export a wrapped model to ONNX with the dynamo exporter (dynamic batch; dynamic H/W when asked)."""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import onnx
import torch
from torch import nn

from cvzoo.errors import ModelError
from cvzoo.export.wrapper import example_input

log = logging.getLogger(__name__)
DEFAULT_OPSET = 18
# Libraries that log every optimization pass at INFO level.
_CHATTY_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx", "torch.export", "torch._dynamo", "torch.fx")
# Trace batch: 2, because torch.export specializes dimensions that are 0 or 1 in the example.
TRACE_BATCH = 2


@dataclass
class OnnxExport:
    """An exported graph and how it was made."""

    model: onnx.ModelProto
    dynamic_hw: bool
    trace_size: int
    seconds: float


def trace_size(size: int, max_stride: int, dynamic: bool) -> int:
    """The example size to trace at: the export size, or (dynamic) at least two cells of the coarsest map.

    Tracing where the coarsest map is 1x1 lets torch.export specialize it to 1, which gives a graph
    that is wrong (or crashes onnxruntime) at any other size.
    """
    if not dynamic:
        return int(size)
    stride = max(1, int(max_stride))
    return max(int(size), 2 * stride) if size % stride == 0 else stride * max(2, math.ceil(size / stride))


@contextlib.contextmanager
def quiet_exporter() -> Iterator[io.StringIO]:
    """Silence the exporter's prints, warnings and INFO logs (kept in the yielded buffer)."""
    chatter = io.StringIO()
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
            warnings.simplefilter("ignore")
            yield chatter
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _dynamic_shapes(input_format: str, dynamic_hw: bool) -> tuple[dict[int, object]]:
    """Dynamic dims of the single input: batch always, H/W when asked (NHWC or NCHW positions)."""
    dim = torch.export.Dim.DYNAMIC
    spatial = (1, 2) if input_format == "uint8" else (2, 3)
    return ({0: dim, **({i: dim for i in spatial} if dynamic_hw else {})},)


def graph_dynamic_hw(model: onnx.ModelProto, input_format: str) -> bool:
    """Whether the graph input's H and W are symbolic (the exporter may silently fix them)."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    spatial = (1, 2) if input_format == "uint8" else (2, 3)
    return all(dims[i].dim_param and not dims[i].dim_value for i in spatial)


def export_onnx(
    module: nn.Module,
    input_format: str,
    size: int,
    dynamic_hw: bool,
    max_stride: int,
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
) -> OnnxExport:
    """Trace ``module`` (an ``ImageInputModel``) and return the ONNX graph (raises ModelError on failure)."""
    traced = trace_size(size, max_stride, dynamic_hw)
    example = example_input(input_format, TRACE_BATCH, traced)
    start = time.perf_counter()
    try:
        with quiet_exporter():
            program = torch.onnx.export(
                module.eval(),
                (example,),
                dynamo=True,
                input_names=["images"],
                output_names=["logits"],
                dynamic_shapes=_dynamic_shapes(input_format, dynamic_hw),
                opset_version=int(opset),
                external_data=False,
                optimize=bool(optimize),
                verbose=False,
            )
    except Exception as err:
        line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"ONNX export ({'dynamic' if dynamic_hw else 'fixed'} size) failed: {line}") from err
    proto = program.model_proto
    return OnnxExport(
        proto, dynamic_hw and graph_dynamic_hw(proto, input_format), traced, time.perf_counter() - start
    )


def simplify(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Simplify the graph with onnxsim when installed, else the onnxscript optimizer; name the tool."""
    try:
        import onnxsim  # type: ignore[import-not-found]
    except ImportError:
        import onnxscript.optimizer

        with quiet_exporter():
            return onnxscript.optimizer.optimize(model), "onnxscript.optimizer"
    simplified, ok = onnxsim.simplify(model)
    return (simplified, "onnxsim") if ok else (model, "onnxsim (check failed; graph kept)")


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Convert weights and compute to float16, keeping the uint8/float32 inputs and float32 logits."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with quiet_exporter():
        return convert_float_to_float16(model, keep_io_types=True)
