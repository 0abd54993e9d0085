"""``yolo_folder``: the Ultralytics layout, ``root/images/<name>.<ext>`` + ``root/labels/<name>.txt``.

Each label line is ``class cx cy w h`` with the box centre and size normalised to [0, 1]; an
image without a label file has no objects. Class names come from ``dataset.class_names`` or
``root/classes.txt`` (one per line).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from cvzoo.data.detection_files import Annotated, BadAnnotations, box_problem, clip_box, detection_splits
from cvzoo.data.folder import check_root
from cvzoo.data.images import list_images
from cvzoo.data.splits import DatasetSplits
from cvzoo.errors import DataError


def class_names(root: Path, cfg: Mapping[str, Any]) -> list[str]:
    """``dataset.class_names`` or the lines of ``root/classes.txt``."""
    names = cfg.get("class_names")
    if names:
        return [str(n) for n in names]
    listing = root / "classes.txt"
    if not listing.is_file():
        raise DataError(f"dataset=yolo_folder needs class names: write {listing} or set dataset.class_names")
    return [line.strip() for line in listing.read_text().splitlines() if line.strip()]


def parse_label_file(path: Path, image: Annotated, num_classes: int, bad: BadAnnotations) -> None:
    """Check every line of ``path`` and append its boxes (in pixels) to ``image``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = line.split()
        try:
            cls, cx, cy, w, h = int(fields[0]), *(float(v) for v in fields[1:])
        except (ValueError, IndexError):
            bad.report(f"{where} is {line.strip()!r}; expected 'class cx cy w h' (5 numbers)")
            continue
        if not 0 <= cls < num_classes:
            bad.report(f"{where} has class {cls}, not a class id 0..{num_classes - 1}")
            continue
        width, height = image.width, image.height
        box = [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
        problem = box_problem(box, width, height)
        if problem:
            bad.report(f"{where} box {fields[1:]} {problem}")
            continue
        image.boxes.append(clip_box(box, width, height))
        image.labels.append(cls)


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Read and check a YOLO folder, then split it deterministically."""
    root = check_root(cfg.get("root"), "yolo_folder")
    images_dir, labels_dir = root / "images", root / "labels"
    if not images_dir.is_dir():
        raise DataError(f"dataset.root={root} has no images/ folder; expected {images_dir}/<name>.jpg")
    names = class_names(root, cfg)
    bad = BadAnnotations(cfg.get("on_bad_annotation", "error"))
    items = {}
    for path in list_images(images_dir):
        with Image.open(path) as img:
            items[path.stem] = Annotated(path, *img.size)
    labels = sorted(labels_dir.glob("*.txt")) if labels_dir.is_dir() else []
    for label in labels:
        if label.stem not in items:
            bad.report(f"label file {label} has no image {images_dir}/{label.stem}.<ext>")
            continue
        parse_label_file(label, items[label.stem], len(names), bad)
    bad.summary(str(root))
    return detection_splits([items[k] for k in sorted(items)], names, cfg)
