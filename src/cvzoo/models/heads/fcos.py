"""FCOS head (Tian et al. 2019): anchor-free, one location per feature-map cell.

Each location of each kept FPN level predicts its distances to the four box sides, a
centerness logit and per-class logits (shared towers over the levels, a learnt scale per
level). Training assigns a ground-truth box to a location inside its centre region (radius
``center_radius`` strides) whose largest side distance fits the level's size range, picking
the smallest such box; losses are sigmoid focal (classes), GIoU (boxes) and BCE (centerness),
each normalised by the number of positive locations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from cvzoo.models.heads.blocks import check_positive, norm_layer
from cvzoo.models.heads.detection import (
    BOX,
    CLASSES,
    PRIOR,
    QUALITY,
    DetectionHead,
    cell_priors,
    flatten_levels,
    prior_bias,
)
from cvzoo.models.pyramid import PyramidInfo

MAX_LOG_DISTANCE = 12.0  # exp() of larger regression outputs would overflow in half precision


def tower(channels: int, depth: int, norm: str) -> nn.Sequential:
    """``depth`` 3x3 conv (with bias) -> norm -> ReLU blocks."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1),
            norm_layer(norm, channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


def size_ranges(strides: tuple[int, ...], scale: float) -> Tensor:
    """Per level ``(low, high)`` of the largest side distance it learns: ``(scale/2 s, scale s]``."""
    ranges = [[scale * s / 2, scale * s] for s in strides]
    ranges[0][0], ranges[-1][1] = 0.0, float("inf")
    return torch.tensor(ranges)


class FCOSHead(DetectionHead):
    """Anchor-free one-stage detector head with centerness, GIoU and focal losses."""

    def __init__(
        self,
        feature_info: PyramidInfo,
        num_classes: int,
        channels: int = 128,
        tower_depth: int = 2,
        min_stride: int = 8,
        norm: str = "group",
        center_radius: float = 1.5,
        size_scale: float = 8.0,
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
        self.cls_tower = tower(channels, tower_depth, norm)
        self.box_tower = tower(channels, tower_depth, norm)
        self.cls_logits = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.box_distances = nn.Conv2d(channels, 4, 3, padding=1)
        self.centerness = nn.Conv2d(channels, 1, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(len(self.strides)))
        nn.init.constant_(self.cls_logits.bias, prior_bias(prior_probability))
        self.center_radius = float(center_radius)
        self.focal = (float(focal_alpha), float(focal_gamma))
        self.register_buffer("ranges", size_ranges(self.strides, float(size_scale)), persistent=False)

    def forward(self, features: list[Tensor]) -> Tensor:
        """The ``(B, A, 9 + C)`` detection output (see ``cvzoo.models.heads.detection``)."""
        maps = self.pyramid(features)
        logits, distances, quality = [], [], []
        for k, (m, stride) in enumerate(zip(maps, self.strides)):
            cls, box = self.cls_tower(m), self.box_tower(m)
            logits.append(self.cls_logits(cls).float())  # decoding runs in float32 under autocast
            raw = (self.box_distances(box).float() * self.scales[k]).clamp(max=MAX_LOG_DISTANCE)
            distances.append(raw.exp() * stride)
            quality.append(self.centerness(box).float())
        priors = cell_priors(maps, self.strides).to(distances[0].dtype)
        ltrb = flatten_levels(distances)
        xy = (priors[None, :, :2] + priors[None, :, 2:]) / 2
        boxes = torch.cat([xy - ltrb[..., :2], xy + ltrb[..., 2:]], -1)
        batch = boxes.shape[0]
        return torch.cat(
            [priors.expand(batch, -1, -1), boxes, flatten_levels(quality), flatten_levels(logits)], -1
        )

    def _assign(self, cells: Tensor, gt_boxes: Tensor) -> tuple[Tensor, Tensor]:
        """For each location the index of its ground-truth box (-1 = background), and ltrb targets."""
        if len(gt_boxes) == 0:
            return torch.full((len(cells),), -1, dtype=torch.long, device=cells.device), cells.new_zeros(
                len(cells), 4
            )
        xy, stride = (
            ((cells[:, :2] + cells[:, 2:]) / 2)[:, None],
            (cells[:, 2] - cells[:, 0]).round()[:, None],
        )
        ltrb = torch.cat([xy - gt_boxes[None, :, :2], gt_boxes[None, :, 2:] - xy], -1)  # (A, G, 4)
        centre = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
        near = ((xy - centre[None]).abs().amax(-1) < self.center_radius * stride) & (ltrb.amin(-1) > 0)
        level = torch.bucketize(
            stride[:, 0], torch.tensor(self.strides, device=cells.device, dtype=cells.dtype)
        )
        low, high = self.ranges.to(cells)[level].unbind(-1)
        reach = ltrb.amax(-1)
        fits = (reach > low[:, None]) & (reach <= high[:, None])
        area = ((gt_boxes[:, 2:] - gt_boxes[:, :2]).prod(-1))[None].expand(len(cells), -1)
        area = torch.where(near & fits, area, torch.full_like(area, float("inf")))
        smallest, index = area.min(1)
        index = torch.where(torch.isfinite(smallest), index, torch.full_like(index, -1))
        return index, ltrb[torch.arange(len(cells)), index.clamp(min=0)]

    def loss(self, outputs: Tensor, targets: list[dict[str, Tensor]]) -> Tensor:
        """Focal + GIoU + centerness BCE over the batch, normalised by the positive count."""
        outputs = outputs.float()
        cls_targets = torch.zeros_like(outputs[..., CLASSES])
        positives, pred_boxes, gt_boxes, centerness, quality = 0, [], [], [], []
        for b, target in enumerate(targets):
            index, ltrb = self._assign(outputs[b, :, PRIOR], target["boxes"].float())
            pos = index >= 0
            cls_targets[b, pos, target["labels"][index[pos]]] = 1.0
            positives += int(pos.sum())
            pred_boxes.append(outputs[b, pos, BOX])
            gt_boxes.append(target["boxes"].float()[index[pos]])
            lr, tb = ltrb[pos, 0::2], ltrb[pos, 1::2]
            ratio = (lr.amin(-1) / lr.amax(-1)) * (tb.amin(-1) / tb.amax(-1))
            centerness.append(ratio.clamp(min=0).sqrt())
            quality.append(outputs[b, pos, QUALITY])
        norm = max(positives, 1)
        alpha, gamma = self.focal
        cls_loss = sigmoid_focal_loss(outputs[..., CLASSES], cls_targets, alpha, gamma, reduction="sum")
        if positives == 0:
            return cls_loss / norm + 0.0 * outputs[..., BOX].sum()
        box_loss = generalized_box_iou_loss(torch.cat(pred_boxes), torch.cat(gt_boxes), reduction="sum")
        ctr_loss = F.binary_cross_entropy_with_logits(
            torch.cat(quality), torch.cat(centerness), reduction="sum"
        )
        return (cls_loss + box_loss + ctr_loss) / norm
