"""Batch augmentation on the training device, built from the ``augmentation`` config group.

The group is selected as a list (``augmentation=[basic,jpeg]``); each selected file contributes
one named block, applied in order. The block name picks its builder: ``jpeg`` is Kornia's
differentiable JPEG, every other block is a mapping ``transform name -> Kornia arguments``
(see ``GEOMETRIC`` and ``PHOTOMETRIC``). Images are float in [0, 1] (normalization belongs to
the model); masks, when present, move with geometric transforms only; boxes (detection) move
with the same geometric parameters, are clipped to the image and dropped once they leave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from cvzoo.errors import ConfigError, suggestion

# Transform name in a block -> Kornia class in ``kornia.augmentation``.
# Geometric transforms move masks (nearest, same parameters); photometric ones touch images only.
GEOMETRIC = {
    "hflip": "RandomHorizontalFlip",
    "vflip": "RandomVerticalFlip",
    "affine": "RandomAffine",
    "rotation": "RandomRotation",
    "resized_crop": "RandomResizedCrop",
}
PHOTOMETRIC = {
    "color_jitter": "ColorJitter",
    "grayscale": "RandomGrayscale",
    "blur": "RandomGaussianBlur",
    "noise": "RandomGaussianNoise",
    "erasing": "RandomErasing",
}
JPEG_OPTIONS = ("p", "quality")
MIN_BOX_SIDE = 1.0  # pixels: a moved box narrower or lower than this after clipping has left the image


class BatchAugmentation(nn.Module):
    """Apply a sequence of batch transforms to images (and masks) on their device."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    @property
    def crops(self) -> bool:
        """True when a block random-resized-crops (to the training size, from a larger cached square)."""
        return any(crops_to_size(block) for block in self.blocks)

    def forward(self, images: Tensor, masks: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Return the augmented ``(images, masks)``."""
        for block in self.blocks:
            images, masks = block(images, masks)
        return images, masks

    def with_boxes(self, images: Tensor, targets: list[dict[str, Tensor]]) -> tuple[Tensor, list[dict]]:
        """Augment images and move their box targets (xyxy pixels); boxes that leave are dropped."""
        boxes, valid = pad_boxes(targets, images)
        for block in self.blocks:
            images, boxes = block.with_boxes(images, boxes)
        return images, unpad_boxes(boxes, valid, targets, images.shape[-2:])


def pad_boxes(targets: list[dict[str, Tensor]], images: Tensor) -> tuple[Tensor, Tensor]:
    """``(B, N, 4)`` boxes (zeros past each image's count) and the ``(B, N)`` mask of real ones."""
    most = max([len(t["boxes"]) for t in targets] + [1])
    boxes = images.new_zeros(len(targets), most, 4)
    valid = torch.zeros(len(targets), most, dtype=torch.bool, device=images.device)
    for b, target in enumerate(targets):
        boxes[b, : len(target["boxes"])] = target["boxes"].to(boxes)
        valid[b, : len(target["boxes"])] = True
    return boxes, valid


def unpad_boxes(
    boxes: Tensor, valid: Tensor, targets: list[dict[str, Tensor]], size: tuple[int, int]
) -> list[dict[str, Tensor]]:
    """Clip moved boxes to the image and keep the real ones that still cover ``MIN_BOX_SIDE``."""
    height, width = size
    limit = boxes.new_tensor([width, height, width, height])
    clipped = torch.minimum(boxes.clamp(min=0), limit)
    sides = clipped[..., 2:] - clipped[..., :2]
    keep = valid & (sides >= MIN_BOX_SIDE).all(-1)
    out = []
    for b, target in enumerate(targets):
        kept = keep[b, : len(target["boxes"])]
        out.append({**target, "boxes": clipped[b, : len(kept)][kept], "labels": target["labels"][kept]})
    return out


def _kornia_class(name: str) -> type[nn.Module]:
    """The class ``kornia.augmentation.<name>`` (imported on first use: kornia is slow to load)."""
    import kornia.augmentation as K

    return getattr(K, name)


def _kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """Config values as Kornia arguments (lists become tuples)."""
    return {k: tuple(v) if isinstance(v, list | tuple) else v for k, v in options.items()}


def _instantiate(where: str, class_name: str, options: Mapping[str, Any]) -> nn.Module:
    """Build one Kornia transform; a bad argument becomes a one-line ConfigError."""
    try:
        return _kornia_class(class_name)(**_kwargs(options))
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"{where}: {err}; the keys are the arguments of kornia.augmentation.{class_name}"
        ) from err


def shift_masks(masks: Tensor, dtype: torch.dtype) -> Tensor:
    """``(B, H, W)`` int masks as ``(B, 1, H, W)`` floats shifted by +1, so padding (0) is new."""
    return (masks + 1).unsqueeze(1).to(dtype)


def unshift_masks(shifted: Tensor, ignore_index: int) -> Tensor:
    """Undo ``shift_masks``: padding pixels (0) become ``ignore_index``, others their class."""
    labels = shifted.squeeze(1).round().long()
    return torch.where(labels == 0, torch.full_like(labels, ignore_index), labels - 1)


def _geometric(where: str, class_name: str, options: Mapping[str, Any], size: tuple[int, int]) -> nn.Module:
    """One geometric transform for ``size`` inputs (crops resize back to ``size``)."""
    if class_name == "RandomResizedCrop":
        options = {"size": size, **options}
    return _instantiate(where, class_name, options)


class TransformBlock(nn.Module):
    """Geometric transforms on images and masks, then photometric ones on images only."""

    def __init__(
        self,
        geometric: list[tuple[str, str, dict[str, Any]]],
        photometric: list[nn.Module],
        ignore_index: int,
        output_size: int | None = None,
    ) -> None:
        super().__init__()
        self.geometric_specs = geometric
        self.output_size = output_size
        self.photometric = nn.ModuleList(photometric)
        self.ignore_index = ignore_index
        # One Kornia sequence per input size (RandomResizedCrop crops back to the input size).
        self.geometric = nn.ModuleDict()

    def _sequence(self, height: int, width: int, target: str = "mask") -> nn.Module:
        """The geometric AugmentationSequential for ``height x width`` inputs and a target kind."""
        key = f"{height}x{width}-{target}"
        if key not in self.geometric:
            import kornia.augmentation as K

            size = (self.output_size,) * 2 if self.output_size else (height, width)
            steps = [_geometric(*spec, size) for spec in self.geometric_specs]
            self.geometric[key] = K.AugmentationSequential(*steps, data_keys=["input", target])
        return self.geometric[key]

    def with_boxes(self, images: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """Augment images and move padded ``(B, N, 4)`` xyxy boxes with the same parameters."""
        if self.geometric_specs:
            sequence = self._sequence(*images.shape[-2:], target="bbox_xyxy")
            # Kornia places pixel i's centre at i; cvzoo's box edges put it at i + 0.5.
            images, moved = sequence(images, boxes - 0.5)
            boxes = moved + 0.5
        return self._photometric(images), boxes

    def _photometric(self, images: Tensor) -> Tensor:
        """The photometric transforms (images only), then clamp to [0, 1]."""
        for transform in self.photometric:
            images = transform(images)
        return images.clamp(0.0, 1.0)

    def forward(self, images: Tensor, masks: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Return the augmented ``(images, masks)``; images stay in [0, 1]."""
        if self.geometric_specs:
            sequence = self._sequence(*images.shape[-2:])
            if masks is None:
                images = sequence(images, data_keys=["input"])
            else:
                images, shifted = sequence(images, shift_masks(masks, images.dtype))
                masks = unshift_masks(shifted, self.ignore_index)
        return self._photometric(images), masks


class JpegBlock(nn.Module):
    """Kornia's differentiable RandomJPEG on RGB images in [0, 1]; masks pass through."""

    def __init__(self, quality: tuple[float, float], p: float) -> None:
        super().__init__()
        self.quality = (float(quality[0]), float(quality[1]))
        self.p = float(p)
        self._jpeg: nn.Module | None = None

    def _transform(self, device: torch.device) -> nn.Module:
        """RandomJPEG whose quality range lives on ``device`` (kornia#2867: CPU quality on CUDA)."""
        current = self._jpeg.jpeg_quality if self._jpeg is not None else None
        if current is None or current.device != device:
            quality = torch.tensor(self.quality, device=device)
            self._jpeg = _kornia_class("RandomJPEG")(jpeg_quality=quality, p=self.p)
        return self._jpeg

    def forward(self, images: Tensor, masks: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Return JPEG-compressed images (grey images are coded as RGB and averaged back)."""
        channels = images.shape[1]
        if channels not in (1, 3):
            raise ConfigError(f"augmentation jpeg needs 1 or 3 channels, got {channels}; drop jpeg")
        rgb = images.expand(-1, 3, -1, -1) if channels == 1 else images
        out = self._transform(images.device)(rgb)
        return (out.mean(1, keepdim=True) if channels == 1 else out), masks

    def with_boxes(self, images: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """JPEG touches the images only; boxes pass through."""
        return self(images, None)[0], boxes


def _option_map(where: str, options: Any) -> Mapping[str, Any]:
    """A block's or transform's options as a mapping; anything else is a ConfigError."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}={options!r} must be a mapping of options, e.g. {{p: 0.5}}")
    return options


def crops_to_size(block: nn.Module) -> bool:
    """True for a transform block holding ``resized_crop`` (it outputs the training size)."""
    specs = getattr(block, "geometric_specs", [])
    return any(class_name == "RandomResizedCrop" for _, class_name, _ in specs)


def build_transform_block(
    name: str, options: Any, ignore_index: int, output_size: int | None = None
) -> TransformBlock:
    """A block of named Kornia transforms (``hflip``, ``affine``, ...); ``null`` disables one."""
    geometric, photometric = [], []
    for key, value in _option_map(f"augmentation.{name}", options).items():
        where = f"augmentation.{name}.{key}"
        if value is None or value is False:
            continue
        if key in GEOMETRIC:
            geometric.append((where, GEOMETRIC[key], dict(_option_map(where, value))))
        elif key in PHOTOMETRIC:
            photometric.append(_instantiate(where, PHOTOMETRIC[key], _option_map(where, value)))
        else:
            known = [*GEOMETRIC, *PHOTOMETRIC]
            hint = suggestion(str(key), known) or f"known: {', '.join(known)}"
            raise ConfigError(f"unknown transform {where}; {hint}")
    for spec in geometric:  # fail on a bad argument now, not at the first batch
        _geometric(*spec, (32, 32))
    return TransformBlock(geometric, photometric, ignore_index, output_size)


def build_jpeg_block(name: str, options: Any, ignore_index: int, output_size: int | None = None) -> JpegBlock:
    """The ``jpeg`` block: ``quality`` (a number or a [low, high] range in 1..100) and ``p``."""
    options = _option_map(f"augmentation.{name}", options)
    unknown = [k for k in options if k not in JPEG_OPTIONS]
    if unknown:
        raise ConfigError(f"unknown option augmentation.{name}.{unknown[0]}; known: p, quality")
    quality = options.get("quality", (50.0, 95.0))
    low, high = (quality, quality) if isinstance(quality, int | float) else tuple(quality)
    if not 1 <= float(low) <= float(high) <= 100:
        raise ConfigError(f"augmentation.{name}.quality={quality!r} is invalid; use 1 <= low <= high <= 100")
    return JpegBlock((low, high), float(options.get("p", 0.5)))


# Block name -> builder; any other name is a block of transforms.
BLOCK_BUILDERS = {"jpeg": build_jpeg_block}


def build_augmentation(
    cfg: Mapping[str, Any] | None, task: str, ignore_index: int = 255, output_size: int | None = None
) -> BatchAugmentation | None:
    """Build the configured blocks; None when the config selects no augmentation.

    ``output_size`` is the training size ``resized_crop`` crops to (inputs may be a larger cached
    square); without it crops keep the input size.
    """
    if not cfg:
        return None
    blocks = []
    for name, options in cfg.items():
        builder = BLOCK_BUILDERS.get(str(name), build_transform_block)
        blocks.append(builder(str(name), options, ignore_index, output_size))
    return BatchAugmentation(blocks)
