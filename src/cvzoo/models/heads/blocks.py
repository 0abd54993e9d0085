"""Building blocks shared by the segmentation heads: conv-norm-act stacks, resizing, level choice.

:class:`PyramidSegHead` holds what the FPN and U-Net heads have in common (the kept pyramid
levels, the final dropout and 1x1 classifier), so each head module keeps only its own decoder.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from cvzoo.errors import ConfigError
from cvzoo.models.heads import Head
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


def conv_stack(in_ch: int, out_ch: int, depth: int = 2, norm: str = "group") -> nn.Sequential:
    """``depth`` 3x3 conv-norm-ReLU blocks, the first mapping ``in_ch`` to ``out_ch``."""
    return nn.Sequential(*(ConvNormAct(in_ch if i == 0 else out_ch, out_ch, norm=norm) for i in range(depth)))


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


class PyramidSegHead(Head):
    """Segmentation head over the pyramid levels at stride >= ``min_stride``, ending in a 1x1 conv."""

    tasks: ClassVar[tuple[str, ...]] = ("segmentation",)
    needs_pyramid: ClassVar[bool] = True

    def __init__(self, feature_info: PyramidInfo, num_classes: int, min_stride: int, dropout: float) -> None:
        super().__init__(feature_info, num_classes)
        self.levels = levels_from(feature_info, int(min_stride))
        self.level_channels = [feature_info.channels[i] for i in self.levels]
        self.dropout = nn.Dropout2d(float(dropout))
        self.classifier: nn.Module = nn.Identity()  # set by the subclass: make_classifier()

    def make_classifier(self, in_ch: int) -> None:
        """Create the final 1x1 conv from the decoder's ``in_ch`` channels to the classes."""
        self.classifier = nn.Conv2d(in_ch, self.num_classes, 1)

    def kept(self, features: list[Tensor]) -> list[Tensor]:
        """The maps of the kept levels, finest first."""
        return [features[i] for i in self.levels]

    def classify(self, x: Tensor) -> Tensor:
        """Dropout, then per-pixel logits."""
        return self.classifier(self.dropout(x))
