"""The pyramid adapter: whatever a backbone returns becomes a standard NCHW feature pyramid.

CNNs already give several strides; channels-last models (Swin, MambaOut, ...) are permuted using
``feature_info``'s output format (never guessed from shapes); single-scale models (plain ViT,
every map at stride 16) get a simple feature pyramid built from their last map, as in ViTDet
(Li et al. 2022): transposed convolutions for the finer strides, max-pooling for the coarser one.
Heads read only the adapter's ``info`` and never special-case a backbone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class PyramidInfo:
    """Channels and strides of the maps a head receives, finest first."""

    channels: tuple[int, ...]
    strides: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.channels)


def _upsample_block(in_ch: int, out_ch: int, factor: int) -> nn.Module:
    """Transposed-conv stack that multiplies the resolution by ``factor`` (a power of two)."""
    layers: list[nn.Module] = []
    ch = in_ch
    while factor > 1:
        layers.append(nn.ConvTranspose2d(ch, out_ch, kernel_size=2, stride=2))
        factor //= 2
        if factor > 1:
            layers += [nn.GroupNorm(1, out_ch), nn.GELU()]
        ch = out_ch
    return nn.Sequential(*layers)


class SimpleFeaturePyramid(nn.Module):
    """Build strides s/4, s/2, s, 2s from one stride-s map (ViTDet's simple pyramid)."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        fine = [(4, max(channels // 4, 16)), (2, max(channels // 2, 16))]
        self.ups = nn.ModuleList(_upsample_block(channels, ch, f) for f, ch in fine if stride >= f)
        up_channels = [ch for f, ch in fine if stride >= f]
        up_strides = [stride // f for f, _ in fine if stride >= f]
        self.down = nn.MaxPool2d(kernel_size=2, stride=2)
        self.info = PyramidInfo(
            channels=(*up_channels, channels, channels),
            strides=(*up_strides, stride, stride * 2),
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        """Return the four maps, finest first."""
        return [up(x) for up in self.ups] + [x, self.down(x)]


class PyramidAdapter(nn.Module):
    """Turn backbone outputs into NCHW maps with strictly increasing strides."""

    def __init__(
        self,
        channels: list[int],
        reductions: list[int],
        channels_last_output: bool,
        multiscale: bool,
    ) -> None:
        super().__init__()
        self.channels_last_output = channels_last_output
        # Keep the deepest map of each stride (ViT returns several stride-16 maps).
        last_of_stride = {r: i for i, r in enumerate(reductions)}
        self.keep = sorted(last_of_stride.values(), key=lambda i: reductions[i])
        kept_channels = tuple(channels[i] for i in self.keep)
        kept_strides = tuple(reductions[i] for i in self.keep)
        self.sfp: SimpleFeaturePyramid | None = None
        if multiscale and len(self.keep) == 1:
            self.sfp = SimpleFeaturePyramid(kept_channels[0], kept_strides[0])
            self.info = self.sfp.info
        else:
            self.info = PyramidInfo(channels=kept_channels, strides=kept_strides)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """Select, permute to NCHW and (for single-scale backbones) expand into a pyramid."""
        maps = [features[i] for i in self.keep]
        if self.channels_last_output:
            maps = [m.permute(0, 3, 1, 2) for m in maps]
        maps = [m.contiguous(memory_format=torch.contiguous_format) for m in maps]
        if self.sfp is not None:
            return self.sfp(maps[0])
        return maps
