"""What every detection head shares: the FPN neck, the output layout, decoding and NMS.

A detection head returns one tensor ``(B, A, 9 + C)`` over its A priors (all levels):

====================  =====================================================================
columns 0..3          the prior, xyxy in input pixels: the feature-map cell of an anchor-free
                      location (its centre is the point, its side the stride) or the anchor box
columns 4..7          the predicted box, xyxy in input pixels
column 8              a quality logit (FCOS: centerness; heads without one return
                      ``NO_QUALITY``, whose sigmoid is 1)
columns 9..           the class logits (sigmoid, one per class, no background class)
====================  =====================================================================

so the loss, :func:`decode` and any exported graph read the same tensor; the head's ``loss``
knows how it assigns targets to locations.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn
from torchvision.ops import batched_nms

from cvzoo.errors import ConfigError
from cvzoo.models.heads import Head
from cvzoo.models.heads.blocks import resize_to
from cvzoo.models.pyramid import PyramidInfo

PRIOR, BOX, QUALITY, CLASSES = slice(0, 4), slice(4, 8), 8, slice(9, None)
NO_QUALITY = 30.0


def decode(outputs: Tensor) -> tuple[Tensor, Tensor]:
    """Boxes ``(B, A, 4)`` and per-class scores ``(B, A, C)`` (class prob x quality, geometric mean)."""
    quality = outputs[..., QUALITY : QUALITY + 1].sigmoid()
    scores = (outputs[..., CLASSES].sigmoid() * quality).sqrt()
    return outputs[..., BOX], scores


def select_detections(
    boxes: Tensor,
    scores: Tensor,
    score_threshold: float,
    nms_iou: float,
    max_detections: int,
    candidates: int = 1000,
) -> list[dict[str, Tensor]]:
    """Per image: the top candidates over ``score_threshold``, class-wise NMS, at most ``max_detections``."""
    out = []
    for image_boxes, image_scores in zip(boxes, scores):
        flat = image_scores.flatten()
        keep = flat > score_threshold
        values, order = flat[keep], keep.nonzero().squeeze(1)
        if len(values) > candidates:
            values, top = values.topk(candidates)
            order = order[top]
        anchor, label = order // image_scores.shape[1], order % image_scores.shape[1]
        chosen = image_boxes[anchor]
        kept = batched_nms(chosen, values, label, nms_iou)[:max_detections]
        out.append({"boxes": chosen[kept], "scores": values[kept], "labels": label[kept]})
    return out


def cell_centres(m: Tensor, stride: int) -> Tensor:
    """``(h * w, 2)``: the centre of every cell of map ``m`` in input pixels, row-major."""
    h, w = m.shape[-2:]
    dtype = torch.promote_types(m.dtype, torch.float32)  # bf16/fp16 would round pixel coordinates
    ys = (torch.arange(h, device=m.device, dtype=dtype) + 0.5) * stride
    xs = (torch.arange(w, device=m.device, dtype=dtype) + 0.5) * stride
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], 1)


def cell_priors(maps: list[Tensor], strides: tuple[int, ...]) -> Tensor:
    """``(A, 4)``: every cell of every map as an xyxy box in input pixels (side = stride)."""
    rows = []
    for m, stride in zip(maps, strides):
        centres = cell_centres(m, stride)
        rows.append(torch.cat([centres - stride / 2, centres + stride / 2], 1))
    return torch.cat(rows)


def flatten_levels(maps: list[Tensor]) -> Tensor:
    """``(B, K, H, W)`` maps of every level as one ``(B, sum H*W, K)`` tensor."""
    return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)


class FPNNeck(nn.Module):
    """Top-down FPN (lateral 1x1, add the upsampled coarser map, smooth with a 3x3)."""

    def __init__(self, in_channels: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels)

    def forward(self, maps: list[Tensor]) -> list[Tensor]:
        """One ``channels``-wide map per input level."""
        laterals = [conv(m) for conv, m in zip(self.lateral, maps)]
        for k in range(len(laterals) - 2, -1, -1):
            laterals[k] = laterals[k] + resize_to(laterals[k + 1], laterals[k])
        return [conv(p) for conv, p in zip(self.smooth, laterals)]


def prior_bias(probability: float) -> float:
    """Classifier bias so every location starts at ``probability`` (RetinaNet's prior)."""
    return -math.log((1 - probability) / probability)


class DetectionHead(Head):
    """Base of the detection heads: kept levels, FPN neck, post-processing settings."""

    tasks: ClassVar[tuple[str, ...]] = ("detection",)
    needs_pyramid: ClassVar[bool] = True

    def __init__(
        self,
        feature_info: PyramidInfo,
        num_classes: int,
        channels: int,
        min_stride: int,
        score_threshold: float,
        nms_iou: float,
        max_detections: int,
    ) -> None:
        super().__init__(feature_info, num_classes)
        self.levels = [i for i, s in enumerate(feature_info.strides) if s >= min_stride]
        if not self.levels:
            raise ConfigError(
                f"head.min_stride={min_stride} keeps no level of the pyramid (strides "
                f"{list(feature_info.strides)}); lower head.min_stride"
            )
        if not (0 <= score_threshold < 1 and 0 < nms_iou <= 1 and max_detections >= 1):
            raise ConfigError(
                f"head.score_threshold={score_threshold}, nms_iou={nms_iou}, max_detections="
                f"{max_detections}: use 0 <= threshold < 1, 0 < iou <= 1, max_detections >= 1"
            )
        self.strides = tuple(feature_info.strides[i] for i in self.levels)
        self.neck = FPNNeck(tuple(feature_info.channels[i] for i in self.levels), channels)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)

    def pyramid(self, features: list[Tensor]) -> list[Tensor]:
        """The neck's maps over the kept levels, finest first."""
        return self.neck([features[i] for i in self.levels])

    @abstractmethod
    def loss(self, outputs: Tensor, targets: list[dict[str, Tensor]]) -> Tensor:
        """The training loss of ``outputs`` against a batch of box targets."""

    def detections(self, outputs: Tensor) -> list[dict[str, Tensor]]:
        """Decoded boxes, scores and labels per image after NMS (what metrics and predict see)."""
        boxes, scores = decode(outputs)
        return select_detections(boxes, scores, self.score_threshold, self.nms_iou, self.max_detections)
