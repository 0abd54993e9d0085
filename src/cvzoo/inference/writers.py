"""What predict.py writes: ``predictions.csv``, index-mask PNGs and colour overlays, ``errors.csv``."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from cvzoo.data.images import decode_image
from cvzoo.inference.postprocess import Classification

CLASSIFICATION_COLUMNS = ("file", "label", "score", "topk", "rejected")
SEGMENTATION_COLUMNS = ("file", "mask", "overlay", "mean_confidence", "rejected_share", "classes")


def common_root(paths: Sequence[Path]) -> Path:
    """The deepest folder holding every path (names in outputs are relative to it)."""
    return Path(os.path.commonpath([str(p.resolve().parent) for p in paths])) if paths else Path(".")


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX separators), or its name when outside."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.name


def classification_rows(names: Sequence[str], answers: Sequence[Classification]) -> list[dict]:
    """CSV rows: file, label (``unknown`` when rejected), score, top-k as ``label:prob`` pairs."""
    return [
        {
            "file": name,
            "label": a.label,
            "score": f"{a.score:.6f}",
            "topk": " ".join(f"{label}:{p:.4f}" for label, p in a.topk),
            "rejected": int(a.rejected),
        }
        for name, a in zip(names, answers)
    ]


def palette(num_classes: int) -> np.ndarray:
    """A fixed colour per class (``(C, 3)`` uint8): tab20, then golden-ratio hues."""
    import matplotlib

    base = (np.asarray(matplotlib.colormaps["tab20"].colors) * 255).astype(np.uint8)
    if num_classes <= len(base):
        return base[:num_classes]
    hues = (np.arange(num_classes) * 0.618034) % 1.0
    extra = (np.asarray(matplotlib.colormaps["hsv"](hues))[:, :3] * 255).astype(np.uint8)
    return np.concatenate([base, extra[len(base) :]])


def save_mask(mask: np.ndarray, path: Path) -> None:
    """Save an index mask (already on the image's pixels) as an 8-bit, or 16-bit when needed, PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "L" if mask.max(initial=0) < 256 else "I;16"
    dtype = np.uint8 if mode == "L" else np.uint16
    Image.fromarray(mask.astype(dtype), mode=mode).save(path)


def save_overlay(source: Path, mask: np.ndarray, colours: np.ndarray, alpha: float, path: Path) -> None:
    """Blend class colours over the original image (pixels of no class, e.g. rejected, stay as they are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = decode_image(source).permute(1, 2, 0).numpy().astype(np.float32)
    labelled = mask < len(colours)
    colour = colours[np.where(labelled, mask, 0)].astype(np.float32)
    blend = np.where(labelled[..., None], (1 - alpha) * rgb + alpha * colour, rgb)
    Image.fromarray(blend.round().clip(0, 255).astype(np.uint8)).save(path)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict]) -> Path:
    """Write ``rows`` (dicts) with a header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path
