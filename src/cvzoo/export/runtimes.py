"""Consumers of an exported graph: onnxruntime (the parity reference runtime) and OpenCV DNN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from cvzoo.export.parity import Runner, Tolerance, compare
from cvzoo.export.wrapper import to_input_format


def ort_runner(
    model: onnx.ModelProto | Path, input_format: str, providers: list[str] | None = None
) -> Runner:
    """A function running the graph with onnxruntime on uint8 NHWC batches."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, options, providers=providers or ["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(images: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: to_input_format(images, input_format)})[0], np.float32)

    return run


def opencv_check(
    path: Path, images: np.ndarray, expected: np.ndarray, input_format: str, tol: Tolerance
) -> dict[str, Any]:
    """Load the ONNX with OpenCV DNN and compare its logits (a report: never fails the export)."""
    try:
        import cv2
    except ImportError:
        return {"available": False, "note": "pip install opencv-python-headless to check OpenCV DNN"}
    report: dict[str, Any] = {"available": True, "version": cv2.__version__, "loaded": False, "ran": False}
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
        report["loaded"] = True
        net.setInput(to_input_format(images, input_format))
        output = np.asarray(net.forward(), np.float32)
        report["ran"] = True
        report.update(
            compare(expected, output.reshape(expected.shape) if output.size == expected.size else output, tol)
        )
    except Exception as err:  # noqa: BLE001 - cv2.error and friends: report, do not fail
        report["error"] = (
            f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:300] if str(err).strip() else ''}"
        )
        report["ok"] = False
    return report
