"""How an image file becomes the model's input, exactly as validation saw it (one type, read everywhere).

Validation decodes a file into the cached square (``fit_image`` at ``cache_size`` in the dataset's
``resize`` mode), then ``center_fit`` brings the square to ``image_size`` on the device. ``predict.py``,
calibration and export parity call the same two functions; the model card stores these fields so a
client applies the same resize before feeding the ``image_size`` uint8 NHWC graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cvzoo.data.files import FileDataSettings
from cvzoo.data.images import read_fitted
from cvzoo.data.resize import center_fit, eval_crop_side, plan_center_fit, plan_fit, unfit_mask


@dataclass(frozen=True)
class Geometry:
    """Resize mode and sizes from a file to the model input: ``resize`` to ``cache_size``, centre-fit."""

    resize: str
    cache_size: int
    image_size: int
    eval_crop: float = 1.0
    jpeg_draft: bool = False

    @classmethod
    def squash(cls, image_size: int) -> Geometry:
        """The geometry of models that predate aspect-preserving resizes: stretch to ``image_size``."""
        return cls("squash", int(image_size), int(image_size))

    @classmethod
    def of_dataset(cls, cfg: Mapping[str, Any]) -> Geometry:
        """The geometry a dataset config trains and validates with (no ``resize`` key: squash)."""
        size = int(cfg["image_size"])
        if "resize" not in cfg:  # in-memory datasets and checkpoints older than the decode cache
            return cls.squash(size)
        settings = FileDataSettings.from_config(cfg)
        # ``folder`` (the file classification dataset) decodes JPEGs at a reduced DCT scale; the
        # segmentation datasets decode at full scale so images keep their masks' geometry.
        draft = str(cfg.get("task")) == "classification"
        return cls(settings.resize, settings.size(size), size, float(settings.eval_crop), draft)

    @classmethod
    def from_card(cls, facts: Mapping[str, Any] | None, image_size: int) -> Geometry:
        """Read ``to_dict``'s fields back (a card or ONNX metadata without them: squash)."""
        if not facts:
            return cls.squash(image_size)
        return cls(
            str(facts["resize"]),
            int(facts["cache_size"]),
            int(facts["image_size"]),
            float(facts.get("eval_crop", 1.0)),
            bool(facts.get("jpeg_draft", False)),
        )

    @property
    def crop_size(self) -> int:
        """Side of the centre crop of the cached square that is resized to ``image_size``."""
        return eval_crop_side(self.cache_size, self.image_size, self.eval_crop)

    def to_dict(self) -> dict[str, Any]:
        """Machine-readable fields for the card and the ONNX metadata."""
        return {**asdict(self), "crop_size": self.crop_size}

    def describe(self) -> str:
        """The resize a client applies before the graph, in words."""
        c, n, side = self.cache_size, self.image_size, self.crop_size
        first = {
            "crop": f"resize the short side to {c} px keeping the aspect ratio and take the centre {c}x{c}",
            "letterbox": f"resize the long side to {c} px keeping the aspect ratio and pad to {c}x{c} "
            "with black (0), centred",
            "squash": f"resize to {c}x{c} ignoring the aspect ratio",
        }[self.resize]
        draft = f" (JPEGs may use a reduced DCT scale covering {c} px)" if self.jpeg_draft else ""
        decode = "decode as RGB" + draft
        steps = [f"{decode}, {first} (bilinear, antialiased)"]
        if side != c:
            steps.append(f"take the centre {side}x{side} crop")
        if side != n:
            steps.append(f"resize it to {n}x{n} (bilinear, antialiased) and round to uint8")
        return "; ".join(steps) + "; nothing else (normalization is inside the graph)"

    def square(self, path: Path) -> np.ndarray:
        """A file as the uint8 ``(3, cache_size, cache_size)`` square the dataset caches for it."""
        return read_fitted(path, self.cache_size, self.resize, draft=self.jpeg_draft)

    def fit_batch(self, squares: Tensor, masks: Tensor | None = None) -> tuple[np.ndarray, Tensor | None]:
        """uint8 ``(N, 3, S, S)`` squares (and masks) as validation feeds them: uint8 NHWC at image_size.

        ``center_fit`` runs on ``[0, 1]`` floats as in validation; a crop that needs resizing is
        rounded back to uint8 (at most half a grey level from what validation saw).
        """
        images, masks = center_fit(squares.float().div(255.0), masks, self.image_size, self.eval_crop)
        pixels = images.mul(255.0).round().clamp(0, 255).to(torch.uint8)
        return np.ascontiguousarray(pixels.permute(0, 2, 3, 1).numpy()), masks

    def mask_to_source(self, mask: np.ndarray, width: int, height: int, fill: int) -> np.ndarray:
        """A predicted ``(image_size, image_size)`` mask on the ``width x height`` file (nearest).

        Pixels the model did not see (outside the crop) get ``fill``; letterbox padding is dropped.
        """
        fit = plan_center_fit(
            plan_fit(width, height, self.cache_size, self.resize), self.image_size, self.eval_crop
        )
        return unfit_mask(mask, fit, width, height, fill)
