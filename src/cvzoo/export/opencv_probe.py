"""Run an ONNX graph with OpenCV DNN in its own process: ``python -m cvzoo.export.opencv_probe M IN OUT``.

OpenCV can crash (segfault) on graphs it does not support, so the export never loads it in-process.
Prints one JSON line ``{"stage": "loaded"|"ran", ...}``; writes the output array to ``OUT`` (.npy).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(argv: list[str]) -> int:
    """Load the graph, run it on the saved input, save the output; report how far it got."""
    import cv2

    model, inp, out = argv
    print(json.dumps({"stage": "started", "version": cv2.__version__}), flush=True)
    net = cv2.dnn.readNetFromONNX(model)
    print(json.dumps({"stage": "loaded"}), flush=True)
    net.setInput(np.load(inp))
    np.save(out, np.asarray(net.forward(), np.float32))
    print(json.dumps({"stage": "ran"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
