"""The deployment input contract: raw uint8 NHWC RGB batches in, logits out (layout and scaling inside)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from cvzoo.errors import ConfigError

# input=uint8: (B, H, W, 3) uint8 RGB as decoded; input=float: (B, 3, H, W) float in [0, 1].
INPUT_FORMATS = {
    "uint8": "uint8 NHWC RGB, 0-255",
    "float": "float32 NCHW RGB, 0-1",
}


def check_input_format(name: str) -> str:
    """Validate ``input=`` and return it."""
    if name not in INPUT_FORMATS:
        raise ConfigError(
            f"input={name!r} must be one of {', '.join(INPUT_FORMATS)} (uint8 = raw decoded images)"
        )
    return name


class ImageInputModel(nn.Module):
    """Wrap a ``CvzooModel`` (float NCHW [0, 1] in) so it takes the chosen input format."""

    def __init__(self, model: nn.Module, input_format: str = "uint8") -> None:
        super().__init__()
        self.model = model
        self.input_format = check_input_format(input_format)

    def forward(self, images: Tensor) -> Tensor:
        """Logits for a batch in the wrapper's input format (normalization is inside the model)."""
        if self.input_format == "uint8":
            # Cast first: TensorRT accepts uint8 inputs only when a Cast consumes them directly.
            images = images.to(torch.float32).permute(0, 3, 1, 2) / 255.0
        return self.model(images)


def example_input(input_format: str, batch: int, size: int) -> Tensor:
    """A random batch in ``input_format`` at ``size x size`` (for tracing)."""
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=generator)
    if input_format == "uint8":
        return pixels
    return pixels.permute(0, 3, 1, 2).float().div(255.0).contiguous()


def to_input_format(images: np.ndarray, input_format: str) -> np.ndarray:
    """A uint8 NHWC batch as the graph's input: unchanged (uint8), or float NCHW in [0, 1] (float)."""
    if input_format == "uint8":
        return np.ascontiguousarray(images)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
