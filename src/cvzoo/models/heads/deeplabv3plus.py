"""DeepLabV3+ head (Chen et al. 2018): ASPP on the deepest map, fused with a stride-4-ish map.

The backbone is not dilated (any timm model must work), so ASPP runs on the deepest map at its
own stride; the atrous rates are given for stride 16 (the paper's 6, 12, 18) and scaled by
``16 / stride`` (stride 32 -> 3, 6, 9). Image pooling pools to 1x1 only (ONNX-friendly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from cvzoo.models.heads import Head
from cvzoo.models.heads.blocks import ConvNormAct, check_positive, conv_stack, resize_to
from cvzoo.models.pyramid import PyramidInfo

RATES_STRIDE = 16


def scale_rates(rates: Sequence[int], stride: int) -> list[int]:
    """Atrous rates meant for a stride-16 map, scaled to a map of ``stride`` (at least 1)."""
    return [max(1, round(int(r) * RATES_STRIDE / stride)) for r in rates]


class ASPPPooling(nn.Module):
    """Image-level features: global average pool, 1x1 conv, ReLU, broadcast back."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        # A bias instead of a norm: normalizing a 1x1 map is degenerate for small batches.
        self.conv = nn.Conv2d(in_ch, out_ch, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """Return the pooled features expanded to ``x``'s spatial size."""
        return self.act(self.conv(self.pool(x))).expand(-1, -1, *x.shape[-2:])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, dilated 3x3s and image pooling, projected."""

    def __init__(self, in_ch: int, out_ch: int, rates: Sequence[int], norm: str, dropout: float) -> None:
        super().__init__()
        branches: list[nn.Module] = [ConvNormAct(in_ch, out_ch, 1, norm=norm)]
        branches += [ConvNormAct(in_ch, out_ch, 3, dilation=r, norm=norm) for r in rates]
        branches.append(ASPPPooling(in_ch, out_ch))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(
            ConvNormAct(out_ch * len(branches), out_ch, 1, norm=norm), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Multi-rate context for every position of ``x``."""
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


def low_level_index(strides: Sequence[int], target: int) -> int:
    """The finest level with stride >= ``target`` (else the coarsest), excluding the deepest."""
    candidates = [i for i, s in enumerate(strides[:-1]) if s >= target]
    return candidates[0] if candidates else max(0, len(strides) - 2)


class DeepLabV3PlusHead(Head):
    """ASPP context on the deepest map, upsampled and fused with low-level features."""

    tasks: ClassVar[tuple[str, ...]] = ("segmentation",)
    needs_pyramid: ClassVar[bool] = True

    def __init__(
        self,
        feature_info: PyramidInfo,
        num_classes: int,
        aspp_channels: int = 128,
        atrous_rates: Sequence[int] = (6, 12, 18),
        low_level_stride: int = 4,
        low_level_channels: int = 48,
        decoder_channels: int = 128,
        norm: str = "group",
        dropout: float = 0.1,
    ) -> None:
        super().__init__(feature_info, num_classes)
        aspp_ch = check_positive("aspp_channels", aspp_channels)
        low_ch = check_positive("low_level_channels", low_level_channels)
        dec_ch = check_positive("decoder_channels", decoder_channels)
        self.rates = scale_rates(atrous_rates, feature_info.strides[-1])
        self.aspp = ASPP(feature_info.channels[-1], aspp_ch, self.rates, norm, float(dropout))
        self.low_index = low_level_index(feature_info.strides, int(low_level_stride))
        self.low_proj: nn.Module | None = None
        if len(feature_info) > 1:
            self.low_proj = ConvNormAct(feature_info.channels[self.low_index], low_ch, 1, norm=norm)
        skip_in = low_ch if self.low_proj is not None else 0
        self.decoder = conv_stack(aspp_ch + skip_in, dec_ch, 2, norm=norm)
        self.classifier = nn.Conv2d(dec_ch, num_classes, 1)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Return logits at the low-level map's stride."""
        x = self.aspp(features[-1])
        if self.low_proj is not None:
            low = self.low_proj(features[self.low_index])
            x = torch.cat([resize_to(x, low), low], dim=1)
        return self.classifier(self.decoder(x))
