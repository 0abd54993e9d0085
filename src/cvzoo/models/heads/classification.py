"""Classification heads: global-average-pool the deepest map, then a linear layer or an MLP."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from cvzoo.models.heads import Head
from cvzoo.models.pyramid import PyramidInfo


class LinearHead(Head):
    """Pool the deepest feature map and classify it with one linear layer."""

    tasks: ClassVar[tuple[str, ...]] = ("classification",)

    def __init__(self, feature_info: PyramidInfo, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__(feature_info, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_info.channels[-1], num_classes)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Return ``(B, num_classes)`` logits."""
        x = self.pool(features[-1]).flatten(1)
        return self.fc(self.dropout(x))


class MLPHead(Head):
    """Pool the deepest feature map, then hidden layers with GELU, LayerNorm and dropout."""

    tasks: ClassVar[tuple[str, ...]] = ("classification",)

    def __init__(
        self,
        feature_info: PyramidInfo,
        num_classes: int,
        hidden_dim: int = 256,
        num_layers: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(feature_info, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        layers: list[nn.Module] = []
        width = feature_info.channels[-1]
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU()]
            layers.append(nn.Dropout(dropout))
            width = hidden_dim
        layers.append(nn.Linear(width, num_classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Return ``(B, num_classes)`` logits."""
        return self.mlp(self.pool(features[-1]).flatten(1))
