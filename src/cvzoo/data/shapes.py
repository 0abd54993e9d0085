"""``shapes``: procedural segmentation images (no download), deterministic from a seed and cached.

Each image has a textured, noisy background (a colour ramp along stripes or smooth blobs) and
1..``max_objects`` filled shapes of random kind, size, rotation, colour and position that may
overlap (later ones occlude earlier ones) and leave the frame. Mask: 0 = background, k = the
k-th entry of ``shapes``. Generation is vectorised over images (2,000 at 64x64 in about a second)
and the result is cached as ``<cache_dir>/<hash of the generation settings>.pt``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cvzoo.data.masks import MaskTensorDataset
from cvzoo.data.splits import DatasetSplits, make_splits
from cvzoo.errors import ConfigError, suggestion

log = logging.getLogger(__name__)
GENERATOR_VERSION = 1
MIN_COLOUR_DISTANCE = 90.0  # RGB distance of an object's colour from both background colours


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Equilateral triangle with circumradius 1.15."""
    inside = np.ones(u.shape, dtype=bool)
    for angle in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
        inside &= u * np.cos(angle) + v * np.sin(angle) <= 0.575
    return inside


SHAPES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "circle": lambda u, v: u * u + v * v <= 1.0,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.85,
    "triangle": _triangle,
    "cross": lambda u, v: (
        ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1.0))
    ),
    "ring": lambda u, v: (u * u + v * v <= 1.0) & (u * u + v * v >= 0.3),
}


def _backgrounds(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, H, W, 3)`` float backgrounds and their two ramp colours ``(n, 2, 3)``."""
    colours = rng.uniform(0, 255, (n, 2, 3)).astype(np.float32)
    grid = np.arange(size, dtype=np.float32) / size
    theta = rng.uniform(0, np.pi, (n, 1, 1)).astype(np.float32)
    freq = rng.uniform(1, 6, (n, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    along = grid[None, None, :] * np.cos(theta) + grid[None, :, None] * np.sin(theta)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * along + phase)
    coarse = torch.from_numpy(rng.random((n, 1, 6, 6), dtype=np.float32))
    blobs = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    weight = rng.random((n, 1, 1), dtype=np.float32)
    texture = weight * stripes + (1 - weight) * blobs[:, 0].clamp(0, 1).numpy()
    ramp = (
        colours[:, None, None, 0]
        + (colours[:, None, None, 1] - colours[:, None, None, 0]) * (texture[..., None])
    )
    return ramp, colours


def _object_colours(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """One RGB colour per image, resampled until it stands out from both background colours."""
    colour = rng.uniform(0, 255, (len(background), 3)).astype(np.float32)
    for _ in range(8):
        distance = np.linalg.norm(colour[:, None] - background, axis=-1).min(axis=1)
        close = distance < MIN_COLOUR_DISTANCE
        if not close.any():
            break
        colour[close] = rng.uniform(0, 255, (int(close.sum()), 3))
    return colour


@dataclass(frozen=True)
class ShapesSpec:
    """Everything that decides the generated images (and so the cache key)."""

    num_images: int = 2000
    image_size: int = 64
    kinds: tuple[str, ...] = ("circle", "square", "triangle")
    seed: int = 0
    max_objects: int = 4
    object_size: tuple[float, float] = (0.1, 0.25)  # radius range, share of the image side
    rotate: bool = True
    noise: float = 15.0  # largest per-image Gaussian noise std (0..255 scale)


def _paint_objects(
    rng: np.random.Generator,
    images: np.ndarray,
    masks: np.ndarray,
    bg: np.ndarray,
    spec: ShapesSpec,
    instances: np.ndarray,
) -> None:
    """Paint 1..max_objects random shapes per image into ``images``, ``masks`` and ``instances``.

    ``instances`` gets the object's slot + 1 on its visible pixels (0 = background).
    """
    n, size = masks.shape[0], masks.shape[1]
    counts = rng.integers(1, spec.max_objects + 1, n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    for slot in range(spec.max_objects):
        kind = rng.integers(0, len(spec.kinds), n)
        centre = rng.uniform(0, size, (n, 2, 1, 1)).astype(np.float32)
        radius = (rng.uniform(*spec.object_size, (n, 1, 1)) * size).astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32) * float(spec.rotate)
        colour = _object_colours(rng, bg)
        dx, dy = xx - centre[:, 0], yy - centre[:, 1]
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / radius
        v = (dy * np.cos(angle) - dx * np.sin(angle)) / radius
        inside = np.zeros(masks.shape, dtype=bool)
        for k, name in enumerate(spec.kinds):
            idx = np.flatnonzero((kind == k) & (slot < counts))
            if len(idx):
                inside[idx] = SHAPES[name](u[idx], v[idx])
        b, y, x = np.nonzero(inside)
        shade = 1.0 + 0.12 * u[b, y, x]  # a soft gradient across the object
        images[b, y, x] = np.clip(colour[b] * shade[:, None], 0, 255)
        masks[b, y, x] = kind[b] + 1
        instances[b, y, x] = slot + 1


def generate_shape_instances(spec: ShapesSpec) -> tuple[Tensor, Tensor, Tensor]:
    """Uint8 images ``(N, 3, S, S)``, class masks and instance maps ``(N, S, S)`` (0 = background)."""
    rng = np.random.default_rng(spec.seed)
    size = spec.image_size
    chunk = max(1, 2**21 // (size * size))
    images, masks, instances = [], [], []
    for start in range(0, spec.num_images, chunk):
        n = min(chunk, spec.num_images - start)
        canvas, bg = _backgrounds(rng, n, size)
        mask = np.zeros((n, size, size), dtype=np.uint8)
        instance = np.zeros((n, size, size), dtype=np.uint8)
        _paint_objects(rng, canvas, mask, bg, spec, instance)
        sigma = rng.uniform(min(3.0, spec.noise), spec.noise, (n, 1, 1, 1)).astype(np.float32)
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * sigma
        images.append(np.clip(np.rint(canvas), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2))
        masks.append(mask)
        instances.append(instance)
    return tuple(torch.from_numpy(np.concatenate(a)) for a in (images, masks, instances))


def generate_shapes(spec: ShapesSpec) -> tuple[Tensor, Tensor]:
    """Uint8 images ``(N, 3, S, S)`` and uint8 masks ``(N, S, S)`` (0 = background)."""
    images, masks, _ = generate_shape_instances(spec)
    return images, masks


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """Validate ``dataset.shapes``: known, distinct shape names."""
    for kind in kinds:
        if kind not in SHAPES:
            hint = suggestion(kind, SHAPES) or f"options: {', '.join(SHAPES)}"
            raise ConfigError(f"dataset.shapes has unknown shape {kind!r}; {hint}")
    if not kinds or len(set(kinds)) != len(kinds):
        raise ConfigError(f"dataset.shapes={list(kinds)} must list distinct shapes from {', '.join(SHAPES)}")
    return tuple(kinds)


def shapes_spec(cfg: Mapping[str, Any]) -> ShapesSpec:
    """The validated generation settings of a ``shapes`` dataset config."""
    default = ShapesSpec()
    low, high = (float(v) for v in cfg.get("object_size", default.object_size))
    spec = ShapesSpec(
        num_images=int(cfg.get("num_images", default.num_images)),
        image_size=int(cfg["image_size"]),
        kinds=_check_kinds([str(k) for k in cfg.get("shapes", default.kinds)]),
        seed=int(cfg.get("data_seed", default.seed)),
        max_objects=int(cfg.get("max_objects", default.max_objects)),
        object_size=(low, high),
        rotate=bool(cfg.get("rotate", default.rotate)),
        noise=float(cfg.get("noise", default.noise)),
    )
    for key, least in (("num_images", 1), ("image_size", 8), ("max_objects", 1)):
        if getattr(spec, key) < least:
            raise ConfigError(f"dataset.{key}={getattr(spec, key)} must be at least {least}")
    if not 0 < low <= high <= 1:
        raise ConfigError(f"dataset.object_size=[{low}, {high}] must satisfy 0 < min <= max <= 1")
    if spec.noise < 0:
        raise ConfigError(f"dataset.noise={spec.noise} must be >= 0")
    return spec


def cache_path(cache_dir: Path, spec: ShapesSpec, suffix: str = "") -> Path:
    """``<cache_dir>/<hash><suffix>.pt`` for these settings and this generator version."""
    text = json.dumps({**asdict(spec), "version": GENERATOR_VERSION}, sort_keys=True)
    return cache_dir / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}{suffix}.pt"


def save_atomic(path: Path, data: dict[str, Tensor]) -> None:
    """Write to a temp file in the same folder, then rename (safe for concurrent sweep jobs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(data, handle)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is shared like any data file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_or_generate(spec: ShapesSpec, cache_dir: Any) -> tuple[Tensor, Tensor]:
    """Read the cached images and masks for ``spec``, generating (and caching) them if needed."""
    path = cache_path(Path(str(cache_dir)), spec) if cache_dir else None
    if path is not None and path.is_file():
        try:
            data = torch.load(path, weights_only=True)
            return data["images"], data["masks"]
        except Exception as err:  # noqa: BLE001 - a broken cache is regenerated
            log.warning("regenerating shapes: cache %s is unreadable (%s)", path, err)
    images, masks = generate_shapes(spec)
    if path is not None:
        save_atomic(path, {"images": images, "masks": masks})
    return images, masks


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Generate (or read from the cache) the shapes dataset and split it deterministically."""
    spec = shapes_spec(cfg)
    images, masks = load_or_generate(spec, cfg.get("cache_dir"))
    dataset = MaskTensorDataset(images, masks)
    train, val, test = make_splits(dataset, None, cfg)
    names = ["background", *spec.kinds]
    return DatasetSplits(
        train,
        val,
        test,
        class_names=names,
        task="segmentation",
        ignore_index=int(cfg.get("ignore_index", 255)),
    )
