"""Section 4: onnxruntime vs PyTorch eager, latency at batch 1 and throughput at batch 32."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.common import Row, Settings, alternate, compose_cfg, fmt

SIZE = 64
MODELS = (  # (label, overrides, number of classes)
    ("resnet18 classification", ("head=linear",), 10),
    ("resnet18+unet segmentation", ("head=unet", "dataset=shapes"), 4),
)


def _build(st: Settings, overrides: tuple[str, ...], classes: int) -> torch.nn.Module:
    """The model wrapped to take uint8 NHWC images, as exported."""
    from cvzoo.export.wrapper import ImageInputModel
    from cvzoo.models import build_model

    cfg = compose_cfg(st.workdir, "backbone=resnet18", "backbone.pretrained=false", *overrides)
    model, _ = build_model(cfg.backbone, cfg.head, classes, cfg.dataset.mean, cfg.dataset.std)
    return ImageInputModel(model.eval(), "uint8").eval()


def _ort_session(wrapper: torch.nn.Module, threads: int) -> Callable[[np.ndarray], object]:
    """Export with cvzoo's exporter and open an onnxruntime session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    from cvzoo.export.onnx_export import export_onnx

    proto = export_onnx(wrapper, "uint8", SIZE, dynamic_hw=False, max_stride=32).model
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})


def _seconds(fn: Callable[[np.ndarray], object], images: np.ndarray, calls: int) -> Callable[[], float]:
    """A variant returning the median seconds of ``calls`` calls on ``images``."""

    def variant() -> float:
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            fn(images)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return variant


def _rows(st: Settings, label: str, overrides: tuple[str, ...], classes: int) -> list[Row]:
    """Latency and throughput of one model in both runtimes."""
    wrapper = _build(st, overrides, classes)
    ort_run = _ort_session(wrapper, st.threads)

    @torch.inference_mode()
    def eager(images: np.ndarray) -> object:
        return wrapper(torch.from_numpy(images))

    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)
    many = rng.integers(0, 256, (32, SIZE, SIZE, 3), dtype=np.uint8)
    calls, repeats = (5, 1) if st.quick else (20, 3)
    for fn in (ort_run, eager):  # warm up
        fn(one), fn(many)
    ort1, eager1 = alternate([_seconds(ort_run, one, calls), _seconds(eager, one, calls)], repeats)
    ort32, eager32 = alternate([_seconds(ort_run, many, 3), _seconds(eager, many, 3)], repeats)
    sec = "4 inference (CPU)"
    return [
        Row(
            sec,
            f"{label} b1 latency: onnxruntime / eager",
            f"{ort1 * 1e3:.2f} / {eager1 * 1e3:.2f} ms",
            f"ORT {eager1 / ort1:.2f}x faster",
        ),
        Row(
            sec,
            f"{label} b32 throughput: onnxruntime / eager",
            f"{fmt(32 / ort32)} / {fmt(32 / eager32, 'img/s')}",
            f"ORT {eager32 / ort32:.2f}x faster",
        ),
    ]


def run(st: Settings) -> list[Row]:
    """Section 4 (onnxruntime on CPU; eager on CPU with the same thread count)."""
    try:
        import cvzoo.export.onnx_export
        import cvzoo.export.wrapper  # noqa: F401
    except ImportError as err:
        return [Row("4 inference", "onnxruntime vs eager", "n/a", f"export API missing: {err}")]
    rows = []
    for label, overrides, classes in MODELS[:1] if st.quick else MODELS:
        try:
            rows += _rows(st, label, overrides, classes)
        except Exception as err:  # noqa: BLE001  report, do not stop the other sections
            rows.append(Row("4 inference", label, "n/a", str(err).splitlines()[0][:80]))
    return rows
