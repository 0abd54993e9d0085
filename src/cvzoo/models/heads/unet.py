"""U-Net decoder over the pyramid (Ronneberger et al. 2015): upsample, concatenate, convolve.

Starts from the deepest map and walks to the finest one; each step resizes to the skip's size
(so odd sizes and ceil/floor stride differences just work) and applies two conv-norm-ReLU blocks.
Widths halve per finer level from ``decoder_channels`` down to ``min_channels``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from cvzoo.models.heads import Head
from cvzoo.models.heads.blocks import ConvNormAct, check_positive, levels_from, resize_to
from cvzoo.models.pyramid import PyramidInfo


class DecoderBlock(nn.Module):
    """Upsample to the skip's size, concatenate it, then two 3x3 conv-norm-ReLU blocks."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, norm: str) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_ch + skip_ch, out_ch, norm=norm)
        self.conv2 = ConvNormAct(out_ch, out_ch, norm=norm)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """Fuse the coarser map ``x`` into ``skip``'s resolution."""
        x = torch.cat([resize_to(x, skip), skip], dim=1)
        return self.conv2(self.conv1(x))


class UNetHead(Head):
    """U-Net decoder with skip connections from every pyramid level, logits at the finest stride."""

    tasks: ClassVar[tuple[str, ...]] = ("segmentation",)
    needs_pyramid: ClassVar[bool] = True

    def __init__(
        self,
        feature_info: PyramidInfo,
        num_classes: int,
        decoder_channels: int = 128,
        min_channels: int = 16,
        min_stride: int = 1,
        norm: str = "group",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(feature_info, num_classes)
        width = check_positive("decoder_channels", decoder_channels)
        floor = check_positive("min_channels", min_channels)
        self.levels = levels_from(feature_info, int(min_stride))
        channels = [feature_info.channels[i] for i in self.levels]
        self.center = ConvNormAct(channels[-1], width, norm=norm)
        blocks = []
        in_ch = width
        for skip_ch in reversed(channels[:-1]):
            blocks.append(DecoderBlock(in_ch, skip_ch, width, norm))
            in_ch, width = width, max(floor, width // 2)
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout2d(float(dropout))
        self.classifier = nn.Conv2d(in_ch, num_classes, 1)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Return logits at the finest kept level's stride."""
        maps = [features[i] for i in self.levels]
        x = self.center(maps[-1])
        for block, skip in zip(self.blocks, reversed(maps[:-1])):
            x = block(x, skip)
        return self.classifier(self.dropout(x))
