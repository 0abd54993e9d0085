"""U-Net decoder over the pyramid (Ronneberger et al. 2015): upsample, concatenate, convolve.

Starts from the deepest map and walks to the finest one; each step resizes to the skip's size
(so odd sizes and ceil/floor stride differences just work) and applies two conv-norm-ReLU blocks.
Widths halve per finer level from ``decoder_channels`` down to ``min_channels``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvzoo.models.heads.blocks import ConvNormAct, PyramidSegHead, check_positive, conv_stack, resize_to
from cvzoo.models.pyramid import PyramidInfo


class DecoderBlock(nn.Module):
    """Upsample to the skip's size, concatenate it, then two 3x3 conv-norm-ReLU blocks."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, norm: str) -> None:
        super().__init__()
        self.convs = conv_stack(in_ch + skip_ch, out_ch, 2, norm=norm)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """Fuse the coarser map ``x`` into ``skip``'s resolution."""
        return self.convs(torch.cat([resize_to(x, skip), skip], dim=1))


class UNetHead(PyramidSegHead):
    """U-Net decoder with skip connections from every pyramid level, logits at the finest stride."""

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
        super().__init__(feature_info, num_classes, min_stride, dropout)
        width = check_positive("decoder_channels", decoder_channels)
        floor = check_positive("min_channels", min_channels)
        channels = self.level_channels
        self.center = ConvNormAct(channels[-1], width, norm=norm)
        blocks = []
        in_ch = width
        for skip_ch in reversed(channels[:-1]):
            blocks.append(DecoderBlock(in_ch, skip_ch, width, norm))
            in_ch, width = width, max(floor, width // 2)
        self.blocks = nn.ModuleList(blocks)
        self.make_classifier(in_ch)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Return logits at the finest kept level's stride."""
        maps = self.kept(features)
        x = self.center(maps[-1])
        for block, skip in zip(self.blocks, reversed(maps[:-1])):
            x = block(x, skip)
        return self.classify(x)
