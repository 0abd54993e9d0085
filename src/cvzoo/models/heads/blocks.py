"""Building blocks shared by the segmentation heads: conv-norm-act, resizing, level choice."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from cvzoo.errors import ConfigError
from cvzoo.models.pyramid import PyramidInfo

NORMS = ("group", "batch")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """GroupNorm (at least 4 channels per group, at most 32 groups) or BatchNorm."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(32, max(1, channels // 4)), channels)
    raise ConfigError(f"head.norm={kind!r} must be one of {', '.join(NORMS)}")


class ConvNormAct(nn.Sequential):
    """Convolution (no bias) -> normalization -> ReLU, keeping the spatial size."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1, norm: str = "group"
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, padding=padding, dilation=dilation, bias=False),
            norm_layer(norm, out_ch),
            nn.ReLU(inplace=True),
        )


def resize_to(x: Tensor, ref: Tensor) -> Tensor:
    """Bilinearly resize ``x`` to the spatial size of ``ref`` (no-op when they match)."""
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def levels_from(info: PyramidInfo, min_stride: int) -> list[int]:
    """Indices of the levels whose stride is at least ``min_stride`` (the coarsest if none is)."""
    kept = [i for i, s in enumerate(info.strides) if s >= min_stride]
    return kept or [len(info) - 1]


def check_positive(name: str, value: int) -> int:
    """Return ``value`` as an int, or raise ConfigError naming the head option."""
    if int(value) < 1:
        raise ConfigError(f"head.{name}={value!r} must be a positive integer")
    return int(value)
