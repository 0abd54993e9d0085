"""Deployment export: uint8-NHWC ONNX with embedded normalization, parity checks, card, TensorRT.

Entry point: :func:`cvzoo.export.pipeline.export_model` (what ``export.py`` calls).
"""
