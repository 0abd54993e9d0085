"""Batch augmentation on the training device, built from the ``augmentation`` config group.

The group is selected as a list (``augmentation=[basic,jpeg]``); each selected file contributes
one named block, applied in order. Images are float in [0, 1] (normalization belongs to the
model); masks, when present, move with geometric transforms only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn


class BatchAugmentation(nn.Module):
    """Apply a sequence of batch transforms to images (and masks) on their device."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, images: Tensor, masks: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Return the augmented ``(images, masks)``."""
        for block in self.blocks:
            images, masks = block(images, masks)
        return images, masks


def build_augmentation(cfg: Mapping[str, Any] | None, task: str, ignore_index: int = 255) -> BatchAugmentation | None:
    """Build the configured blocks; None when the config selects no augmentation."""
    if not cfg:
        return None
    from cvzoo.errors import ConfigError

    raise ConfigError(f"augmentation blocks {list(cfg)} are not available in this version")
