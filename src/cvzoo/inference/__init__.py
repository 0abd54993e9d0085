"""Inference: load checkpoints, run torch or ONNX predictors on image files, the reject option.

``load_checkpoint(path) -> (model, meta)`` is the one way back from a checkpoint to a model;
``open_predictor(path, backend)`` gives ``predictor(uint8_nhwc_batch) -> logits`` for either backend;
``Geometry`` (``meta.geometry``, ``predictor.info.geometry``) fits files into such batches like validation.
"""

from cvzoo.inference.checkpoint import CheckpointMeta, load_checkpoint
from cvzoo.inference.geometry import Geometry

__all__ = ["CheckpointMeta", "Geometry", "load_checkpoint"]
