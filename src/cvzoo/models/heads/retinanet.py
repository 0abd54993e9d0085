"""RetinaNet head (Lin et al. 2017): anchors of several sizes and aspect ratios per cell.

Each cell of each kept FPN level carries ``len(anchor_scales) * len(aspect_ratios)`` anchors of
side ``anchor_size * stride * scale``; shared class and box towers predict per-anchor class
logits and (dx, dy, dw, dh) deltas, decoded to boxes inside the graph. Training matches anchors
to ground truth by IoU (``>= fg_iou`` positive, ``< bg_iou`` background, in between ignored;
every box also claims its best anchor), with sigmoid focal loss for classes and GIoU on the
decoded boxes, normalised by the number of positive anchors.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.ops import box_iou, generalized_box_iou_loss, sigmoid_focal_loss

from cvzoo.errors import ConfigError
from cvzoo.models.heads.blocks import check_positive
from cvzoo.models.heads.detection import (
    BOX,
    CLASSES,
    NO_QUALITY,
    PRIOR,
    DetectionHead,
    cell_centres,
    prior_bias,
)
from cvzoo.models.heads.fcos import tower
from cvzoo.models.pyramid import PyramidInfo

MAX_LOG_SCALE = math.log(1000.0 / 16)  # torchvision's clamp of dw, dh before exp()


def anchor_shapes(size: float, scales: list[float], ratios: list[float]) -> Tensor:
    """``(K, 2)`` anchor widths and heights for one unit stride (ratio = height / width)."""
    shapes = [[size * s / math.sqrt(r), size * s * math.sqrt(r)] for s in scales for r in ratios]
    return torch.tensor(shapes)


class RetinaNetHead(DetectionHead):
    """Anchor-based one-stage detector head with focal and GIoU losses."""

    def __init__(
        self,
        feature_info: PyramidInfo,
        num_classes: int,
        channels: int = 128,
        tower_depth: int = 2,
        min_stride: int = 8,
        norm: str = "group",
        anchor_size: float = 4.0,
        anchor_scales: tuple[float, ...] = (1.0, 1.26, 1.587),
        aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
        fg_iou: float = 0.5,
        bg_iou: float = 0.4,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        prior_probability: float = 0.01,
        score_threshold: float = 0.05,
        nms_iou: float = 0.6,
        max_detections: int = 100,
    ) -> None:
        channels = check_positive("channels", channels)
        super().__init__(
            feature_info, num_classes, channels, min_stride, score_threshold, nms_iou, max_detections
        )
        if not (0 < bg_iou <= fg_iou <= 1):
            raise ConfigError(f"head.bg_iou={bg_iou}, fg_iou={fg_iou}: use 0 < bg_iou <= fg_iou <= 1")
        shapes = anchor_shapes(
            float(anchor_size), [float(s) for s in anchor_scales], [float(r) for r in aspect_ratios]
        )
        self.register_buffer("shapes", shapes, persistent=False)
        self.per_cell = len(shapes)
        self.cls_tower = tower(channels, tower_depth, norm)
        self.box_tower = tower(channels, tower_depth, norm)
        self.cls_logits = nn.Conv2d(channels, self.per_cell * num_classes, 3, padding=1)
        self.box_deltas = nn.Conv2d(channels, self.per_cell * 4, 3, padding=1)
        nn.init.constant_(self.cls_logits.bias, prior_bias(prior_probability))
        nn.init.normal_(self.box_deltas.weight, std=0.01)
        nn.init.zeros_(self.box_deltas.bias)
        self.ious = (float(fg_iou), float(bg_iou))
        self.focal = (float(focal_alpha), float(focal_gamma))

    def _anchors(self, maps: list[Tensor]) -> Tensor:
        """``(A, 4)`` xyxy anchors of every cell of every map, cell-major then anchor shape."""
        rows = []
        for m, stride in zip(maps, self.strides):
            centres = cell_centres(m, stride)[:, None]  # (cells, 1, 2)
            half = (self.shapes.to(centres) * stride / 2)[None]  # (1, K, 2)
            rows.append(torch.cat([centres - half, centres + half], -1).reshape(-1, 4))
        return torch.cat(rows)

    def _per_anchor(self, x: Tensor, width: int) -> Tensor:
        """``(B, K * width, H, W)`` conv output as ``(B, H * W * K, width)`` (cell-major)."""
        b, _, h, w = x.shape
        return x.view(b, self.per_cell, width, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, width)

    def forward(self, features: list[Tensor]) -> Tensor:
        """The ``(B, A, 9 + C)`` detection output (see ``cvzoo.models.heads.detection``)."""
        maps = self.pyramid(features)
        logits = torch.cat(
            [self._per_anchor(self.cls_logits(self.cls_tower(m)), self.num_classes) for m in maps], 1
        ).float()  # decoding runs in float32 under autocast
        deltas = torch.cat([self._per_anchor(self.box_deltas(self.box_tower(m)), 4) for m in maps], 1).float()
        anchors = self._anchors(maps)[None].to(deltas.dtype)
        size = anchors[..., 2:] - anchors[..., :2]
        centre = anchors[..., :2] + size / 2 + deltas[..., :2] * size
        half = size * deltas[..., 2:].clamp(max=MAX_LOG_SCALE).exp() / 2
        boxes = torch.cat([centre - half, centre + half], -1)
        batch = boxes.shape[0]
        quality = torch.full_like(boxes[..., :1], NO_QUALITY)
        return torch.cat([anchors.expand(batch, -1, -1), boxes, quality, logits], -1)

    def _match(self, anchors: Tensor, gt_boxes: Tensor) -> Tensor:
        """Per anchor the index of its ground-truth box, -1 background, -2 ignored."""
        if len(gt_boxes) == 0:
            return torch.full((len(anchors),), -1, dtype=torch.long, device=anchors.device)
        iou = box_iou(anchors, gt_boxes)  # (A, G)
        best, index = iou.max(1)
        fg_iou, bg_iou = self.ious
        matched = torch.where(best >= fg_iou, index, torch.full_like(index, -2))
        matched = torch.where(best < bg_iou, torch.full_like(index, -1), matched)
        top = iou.max(0).values  # every box keeps the anchors that overlap it most
        claims = (iou == top[None]) & (top[None] > 0)
        anchor_ids, box_ids = claims.nonzero(as_tuple=True)
        matched[anchor_ids] = box_ids
        return matched

    def loss(self, outputs: Tensor, targets: list[dict[str, Tensor]]) -> Tensor:
        """Focal loss over non-ignored anchors + GIoU on positives, normalised by the positive count."""
        outputs = outputs.float()
        cls_targets = torch.zeros_like(outputs[..., CLASSES])
        counted = torch.ones(outputs.shape[:2], dtype=torch.bool, device=outputs.device)
        pred_boxes, gt_boxes = [], []
        for b, target in enumerate(targets):
            matched = self._match(outputs[b, :, PRIOR], target["boxes"].float())
            pos = matched >= 0
            counted[b] = matched != -2
            cls_targets[b, pos, target["labels"][matched[pos]]] = 1.0
            pred_boxes.append(outputs[b, pos, BOX])
            gt_boxes.append(target["boxes"].float()[matched[pos]])
        positives = sum(len(p) for p in pred_boxes)
        alpha, gamma = self.focal
        cls_loss = sigmoid_focal_loss(
            outputs[..., CLASSES][counted], cls_targets[counted], alpha, gamma, "sum"
        )
        if positives == 0:
            return cls_loss + 0.0 * outputs[..., BOX].sum()
        box_loss = generalized_box_iou_loss(torch.cat(pred_boxes), torch.cat(gt_boxes), reduction="sum")
        return (cls_loss + box_loss) / positives
