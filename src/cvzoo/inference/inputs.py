"""Images to predict on: expand a file, folder or glob, and decode and fit batches like validation does."""

from __future__ import annotations

import glob
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cvzoo.data.cache_build import UnreadableFile
from cvzoo.data.images import IMAGE_EXTENSIONS
from cvzoo.errors import DataError
from cvzoo.inference.geometry import Geometry

_FIT_CHUNK = 256  # items fitted at a time by ``load_split``


def _is_image(path: Path) -> bool:
    """True for a file with an image extension."""
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def collect_inputs(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """Image paths from a file, a folder (recursive, sorted), a glob, or a list of those."""
    if isinstance(spec, list | tuple):
        return [p for item in spec for p in collect_inputs(item)]
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if _is_image(p))
        if not found:
            raise DataError(f"inputs={text} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
        return found
    if glob.has_magic(text):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if _is_image(Path(p)))
        if not found:
            raise DataError(f"inputs={text} matches no image files; check the pattern")
        return found
    raise DataError(f"inputs={text} is not a file, folder or glob that exists; check the path")


@dataclass
class ImageBatch:
    """Decoded images (uint8 NHWC RGB at the model size), their paths, and the files that failed."""

    images: np.ndarray
    paths: list[Path]
    failed: list[tuple[Path, str]] = field(default_factory=list)


def load_batch(paths: Sequence[Path], geometry: Geometry) -> ImageBatch:
    """Decode ``paths`` as the datasets do and fit them as validation does; skip unreadable files."""
    squares, kept, failed = [], [], []
    for path in paths:
        try:
            squares.append(geometry.square(path))
        except UnreadableFile as err:
            cause = err.__cause__ or err
            failed.append((path, f"{type(cause).__name__}: {cause}"))
            continue
        kept.append(path)
    if not squares:
        size = geometry.image_size
        return ImageBatch(np.zeros((0, size, size, 3), np.uint8), kept, failed)
    images, _ = geometry.fit_batch(torch.from_numpy(np.stack(squares)))
    return ImageBatch(images, kept, failed)


def batched(paths: Sequence[Path], batch_size: int) -> Iterator[list[Path]]:
    """Consecutive chunks of ``batch_size`` paths."""
    for start in range(0, len(paths), max(1, int(batch_size))):
        yield list(paths[start : start + batch_size])


def load_split(
    dataset_cfg: Mapping[str, Any], split: str = "val", limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 NHWC at image_size) and targets of one split, fitted as validation fits them."""
    from cvzoo.data import build_splits

    dataset = getattr(build_splits(dataset_cfg), split)
    count = len(dataset) if limit is None else min(int(limit), len(dataset))
    if count == 0:
        raise DataError(f"the {split} split of dataset={dataset_cfg.get('name')} is empty")
    geometry = Geometry.of_dataset(dataset_cfg)
    images, targets = [], []
    for start in range(0, count, _FIT_CHUNK):  # float copies at the cache size stay bounded
        items = [dataset[i] for i in range(start, min(count, start + _FIT_CHUNK))]
        if isinstance(items[0][1], Mapping):  # detection: box dicts, images already at image_size
            fitted, _ = geometry.fit_batch(torch.stack([torch.as_tensor(x) for x, _ in items]))
            images.append(fitted)
            boxes = np.empty(len(items), dtype=object)
            boxes[:] = [t for _, t in items]
            targets.append(boxes)
            continue
        target = torch.stack([torch.as_tensor(t) for _, t in items])
        masks = target if target.ndim == 3 else None
        fitted, masks = geometry.fit_batch(torch.stack([torch.as_tensor(x) for x, _ in items]), masks)
        images.append(fitted)
        targets.append((masks if masks is not None else target).numpy())
    return np.concatenate(images), np.concatenate(targets)
