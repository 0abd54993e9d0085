"""FPN segmentation head: the semantic branch of Panoptic FPN (Kirillov et al. 2019).

Why cvzoo's own dense heads (this module, ``unet.py``, ``deeplabv3plus.py``) rather than
segmentation_models_pytorch decoders: smp's decoders are tied to smp encoders (they expect its
``out_channels`` list with a stride-1 identity entry and a fixed depth), its Unet/FPN/DeepLabV3+
refuse a plain ViT and its DeepLabV3 refuses Swin, so a pyramid adapter is needed either way;
behind the adapter the decoders are a few dozen lines each. Writing them here keeps the head API
(``Head(feature_info, num_classes, **options)``, ``head(features) -> logits``) the only contract,
adds no dependency, lets each head take any number of levels at any strides, and keeps shapes
export-friendly (resizing always to the size of another map, no adaptive pooling beyond 1x1).
"""

from __future__ import annotations

from torch import Tensor, nn

from cvzoo.models.heads.blocks import ConvNormAct, PyramidSegHead, check_positive, resize_to
from cvzoo.models.pyramid import PyramidInfo


class FPNHead(PyramidSegHead):
    """Top-down FPN, then per-level conv+upsample stages summed at the finest kept level."""

    def __init__(
        self,
        feature_info: PyramidInfo,
        num_classes: int,
        fpn_channels: int = 128,
        seg_channels: int = 64,
        min_stride: int = 4,
        norm: str = "group",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(feature_info, num_classes, min_stride, dropout)
        fpn_channels = check_positive("fpn_channels", fpn_channels)
        seg_channels = check_positive("seg_channels", seg_channels)
        in_channels = self.level_channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, fpn_channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1) for _ in in_channels)
        # Level k (0 = finest kept) gets max(1, k) conv stages, k of them followed by a 2x upsample.
        self.stages = nn.ModuleList(
            nn.ModuleList(
                ConvNormAct(fpn_channels if j == 0 else seg_channels, seg_channels, norm=norm)
                for j in range(max(1, k))
            )
            for k in range(len(in_channels))
        )
        self.make_classifier(seg_channels)

    def _top_down(self, maps: list[Tensor]) -> list[Tensor]:
        """FPN outputs P_k: lateral 1x1, add the upsampled coarser level, smooth with a 3x3."""
        laterals = [conv(m) for conv, m in zip(self.lateral, maps)]
        for k in range(len(laterals) - 2, -1, -1):
            laterals[k] = laterals[k] + resize_to(laterals[k + 1], laterals[k])
        return [conv(p) for conv, p in zip(self.smooth, laterals)]

    def forward(self, features: list[Tensor]) -> Tensor:
        """Return logits at the finest kept level's stride."""
        pyramid = self._top_down(self.kept(features))
        out = None
        for k, (p, stages) in enumerate(zip(pyramid, self.stages)):
            x = p
            for j, stage in enumerate(stages):
                x = stage(x)
                if k > 0:  # walk down the pyramid: to level k - j - 1's size
                    x = resize_to(x, pyramid[k - j - 1])
            out = x if out is None else out + x
        return self.classify(out)
