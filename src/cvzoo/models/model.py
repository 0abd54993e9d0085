"""The model every task uses: normalize -> backbone -> pyramid adapter -> head (-> upsample).

Inputs are float images in [0, 1], NCHW, RGB: normalization lives inside the model so that
training, ``predict.py`` and the exported ONNX share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvzoo.models.backbones import build_backbone
from cvzoo.models.heads import Head, build_head, head_class
from cvzoo.models.pyramid import PyramidAdapter


class CvzooModel(nn.Module):
    """Backbone, pyramid adapter and head behind one ``forward(images) -> logits``."""

    def __init__(
        self,
        backbone: nn.Module,
        adapter: PyramidAdapter,
        head: Head,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.adapter = adapter
        self.head = head
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: Tensor) -> Tensor:
        """Map ``(B, 3, H, W)`` images in [0, 1] to logits (segmentation: at ``H x W``)."""
        x = (images - self.mean) / self.std
        logits = self.head(self.adapter(self.backbone(x)))
        if logits.ndim == 4 and logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return logits


@dataclass
class ModelInfo:
    """Facts about a built model that go into the run record."""

    pretrained_loaded: bool
    params: int
    channels_last_output: bool
    pretrained_file: str | None = None


def build_model(
    backbone_cfg: Mapping[str, Any],
    head_cfg: Mapping[str, Any],
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> tuple[CvzooModel, ModelInfo]:
    """Build the model described by the backbone and head config groups."""
    built = build_backbone(
        str(backbone_cfg["name"]),
        backbone_cfg.get("pretrained", "auto"),
        backbone_cfg.get("kwargs") or {},
    )
    adapter = PyramidAdapter(
        built.channels,
        built.reductions,
        built.channels_last_output,
        multiscale=head_class(head_cfg).needs_pyramid,
    )
    head = build_head(head_cfg, adapter.info, num_classes)
    model = CvzooModel(built.module, adapter, head, mean, std)
    info = ModelInfo(
        pretrained_loaded=built.pretrained_loaded,
        params=sum(p.numel() for p in model.parameters()),
        channels_last_output=built.channels_last_output,
        pretrained_file=built.pretrained_file,
    )
    return model, info
