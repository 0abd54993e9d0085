"""TensorRT: build an engine from the exported ONNX and run it, through the ``tensorrt`` package
(Builder + OnnxParser + an optimization profile) or onnxruntime's TensorRT execution provider.

Both need a CUDA GPU. onnxruntime silently falls back to another provider when TensorRT cannot
load, so the session's providers are checked before any number is trusted.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from cvzoo.errors import ConfigError
from cvzoo.export.parity import Runner
from cvzoo.export.wrapper import to_input_format

TRT_EP = "TensorrtExecutionProvider"
INSTALL_HINT = (
    "format=tensorrt needs a CUDA GPU plus the `tensorrt` Python package (pip install tensorrt) "
    "or onnxruntime-gpu with TensorRT (pip install onnxruntime-gpu)"
)


def tensorrt_backend() -> str:
    """``tensorrt`` or ``onnxruntime-trt`` when usable here; else ConfigError saying what to install."""
    import onnxruntime as ort
    import torch

    cuda = torch.cuda.is_available()
    if cuda and importlib.util.find_spec("tensorrt") is not None:
        return "tensorrt"
    if cuda and TRT_EP in ort.get_available_providers():
        return "onnxruntime-trt"
    trt_state = "installed" if importlib.util.find_spec("tensorrt") else "not installed"
    providers = ", ".join(ort.get_available_providers())
    found = f"CUDA {'available' if cuda else 'not available'}, tensorrt {trt_state}, onnxruntime {providers}"
    raise ConfigError(f"{INSTALL_HINT}; found: {found}")


def build_engine(onnx_path: Path, engine_path: Path, shapes: tuple[tuple[int, ...], ...], fp16: bool) -> Path:
    """Parse the ONNX, build a serialized engine for (min, opt, max) input shapes, save it."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = (
        0
        if int(trt.__version__.split(".")[0]) >= 10
        else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    )
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ConfigError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, *shapes)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ConfigError(f"TensorRT could not build an engine from {onnx_path}; see the TensorRT log above")
    engine_path.write_bytes(bytes(serialized))
    return engine_path


def engine_runner(engine_path: Path, input_format: str) -> Runner:
    """Run a serialized engine on uint8 NHWC batches (CUDA buffers are torch tensors)."""
    import tensorrt as trt
    import torch

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inp = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
    out = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
    out_dtype = torch.float16 if engine.get_tensor_dtype(out) == trt.DataType.HALF else torch.float32

    def run(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(to_input_format(images, input_format)).cuda()
        context.set_input_shape(inp, tuple(x.shape))
        y = torch.empty(tuple(context.get_tensor_shape(out)), dtype=out_dtype, device="cuda")
        context.set_tensor_address(inp, x.data_ptr())
        context.set_tensor_address(out, y.data_ptr())
        stream = torch.cuda.current_stream()
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return y.float().cpu().numpy()

    return run


def ort_trt_runner(onnx_path: Path, cache_dir: Path, input_format: str, fp16: bool) -> Runner:
    """Run the ONNX with onnxruntime's TensorRT provider (error if it silently fell back)."""
    import onnxruntime as ort

    options = {
        "trt_fp16_enable": bool(fp16),
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache_dir),
    }
    session = ort.InferenceSession(str(onnx_path), providers=[(TRT_EP, options), "CUDAExecutionProvider"])
    if session.get_providers()[0] != TRT_EP:
        raise ConfigError(
            f"onnxruntime fell back to {session.get_providers()} instead of TensorRT; {INSTALL_HINT}"
        )
    name = session.get_inputs()[0].name

    def run(images: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: to_input_format(images, input_format)})[0], np.float32)

    return run


def tensorrt_runner(
    onnx_path: Path, out_dir: Path, input_format: str, fp16: bool, sizes: list[int], dynamic_hw: bool
) -> tuple[Runner, dict[str, str]]:
    """Build (or let onnxruntime build) the engine and return a runner plus the files it made."""
    backend = tensorrt_backend()
    if backend == "onnxruntime-trt":
        cache = out_dir / "trt_cache"
        cache.mkdir(parents=True, exist_ok=True)
        return ort_trt_runner(onnx_path, cache, input_format, fp16), {"tensorrt_cache": cache.name}
    lo, hi = (min(sizes), max(sizes)) if dynamic_hw else (sizes[0], sizes[0])
    shape = (lambda b, s: (b, s, s, 3)) if input_format == "uint8" else (lambda b, s: (b, 3, s, s))
    profile = (shape(1, lo), shape(8, sizes[0]), shape(32, hi))
    engine = build_engine(
        onnx_path, out_dir / ("model.fp16.engine" if fp16 else "model.engine"), profile, fp16
    )
    return engine_runner(engine, input_format), {"tensorrt": engine.name}
