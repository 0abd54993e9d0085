"""Consumers of an exported graph: onnxruntime (the parity reference runtime) and OpenCV DNN."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
import tempfile
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


def _probe_stages(stdout: str) -> list[str]:
    """Stages the OpenCV probe reported (one JSON line each)."""
    stages = []
    for line in stdout.splitlines():
        with contextlib.suppress(ValueError):
            stages.append(json.loads(line).get("stage"))
    return stages


def opencv_check(
    path: Path,
    images: np.ndarray,
    expected: np.ndarray,
    input_format: str,
    tol: Tolerance,
    timeout: int = 300,
) -> dict[str, Any]:
    """Load and run the ONNX with OpenCV DNN in a child process; compare logits (a report, never fatal)."""
    if importlib.util.find_spec("cv2") is None:
        return {
            "available": False,
            "ok": None,
            "note": "pip install opencv-python-headless to check OpenCV DNN",
        }
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "input.npy", Path(tmp) / "output.npy"
        np.save(inp, to_input_format(images, input_format))
        cmd = [sys.executable, "-m", "cvzoo.export.opencv_probe", str(path), str(inp), str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"available": True, "ok": False, "error": f"OpenCV DNN did not finish in {timeout} s"}
        stages = _probe_stages(done.stdout)
        report: dict[str, Any] = {"available": True, "loaded": "loaded" in stages, "ran": "ran" in stages}
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or [""])[-1][:300]
            why = f"crashed with signal {-done.returncode}" if done.returncode < 0 else tail
            return {
                **report,
                "ok": False,
                "error": f"OpenCV DNN cannot {'run' if report['loaded'] else 'load'} the graph: {why}",
            }
        output = np.load(out)
        output = output.reshape(expected.shape) if output.size == expected.size else output
        result = {**report, **compare(expected, output, tol)}
        if not result["ok"]:
            result["note"] = "OpenCV DNN runs the graph but its outputs differ from torch; use onnxruntime"
        return result
