"""Inference: load checkpoints, run torch or ONNX predictors on image files, the reject option.

``load_checkpoint(path) -> (model, meta)`` is the one way back from a checkpoint to a model;
``open_predictor(path, backend)`` gives ``predictor(uint8_nhwc_batch) -> logits`` for either backend.
"""

from cvzoo.inference.checkpoint import CheckpointMeta, load_checkpoint

__all__ = ["CheckpointMeta", "load_checkpoint"]
