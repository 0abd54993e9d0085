"""``coco_folder``: images plus a COCO instances JSON (what CVAT, Label Studio and Roboflow export).

``root/<images>/<file_name>`` for every entry of the JSON's ``images``; boxes are COCO
``[x, y, width, height]`` in pixels; class names follow the ``categories`` sorted by id.
Crowd annotations (``iscrowd: 1``) are left out, as COCO evaluation does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from cvzoo.data.detection_files import Annotated, BadAnnotations, box_problem, clip_box, detection_splits
from cvzoo.data.folder import check_root
from cvzoo.data.splits import DatasetSplits
from cvzoo.errors import DataError


def read_json(path: Path) -> dict[str, Any]:
    """The annotation file as a dict; a missing or unparsable one is a one-line DataError."""
    if not path.is_file():
        raise DataError(f"dataset.annotations={path} does not exist; point it at the COCO instances JSON")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err}); export the annotations again") from err
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path} has no 'images' list; it is not a COCO instances file")
    return data


def _categories(data: Mapping[str, Any], path: Path) -> dict[int, int]:
    """COCO category id -> class index (categories sorted by id)."""
    ids = sorted(int(c["id"]) for c in data.get("categories", []))
    if not ids:
        raise DataError(f"{path} has no 'categories'; add them or export with the label list")
    return {cid: index for index, cid in enumerate(ids)}


def _size(entry: Mapping[str, Any], file: Path) -> tuple[int, int]:
    """The image's ``(width, height)`` from its JSON entry, else from the file."""
    if entry.get("width") and entry.get("height"):
        return int(entry["width"]), int(entry["height"])
    with Image.open(file) as img:
        return img.size


def _images(data: Mapping[str, Any], folder: Path, path: Path, bad: BadAnnotations) -> dict[int, Annotated]:
    """Image id -> Annotated for each image entry whose file exists."""
    images = {}
    for entry in data["images"]:
        file = folder / str(entry.get("file_name", ""))
        if not file.is_file():
            bad.report(
                f"{path}: image {entry.get('id')} file_name={entry.get('file_name')!r} is not under {folder}"
            )
            continue
        images[int(entry["id"])] = Annotated(file, *_size(entry, file))
    return images


def _add_annotation(
    ann: Mapping[str, Any],
    images: dict[int, Annotated],
    classes: dict[int, int],
    path: Path,
    bad: BadAnnotations,
) -> None:
    """Check one annotation and append its box to its image."""
    where = f"{path}: annotation {ann.get('id')}"
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
        bad.report(f"{where} has bbox={bbox!r}; expected [x, y, width, height] numbers")
        return
    if ann.get("category_id") not in classes:
        bad.report(f"{where} has category_id={ann.get('category_id')!r}, not in categories {sorted(classes)}")
        return
    image = images.get(ann.get("image_id"))
    if image is None:
        bad.report(f"{where} has image_id={ann.get('image_id')!r}, which no image entry (with a file) has")
        return
    x, y, w, h = (float(v) for v in bbox)
    box = [x, y, x + w, y + h]
    problem = box_problem(box, image.width, image.height)
    if problem:
        bad.report(f"{where} (image {image.path.name}) bbox={bbox} {problem}")
        return
    image.boxes.append(clip_box(box, image.width, image.height))
    image.labels.append(classes[ann["category_id"]])


def load(cfg: Mapping[str, Any]) -> DatasetSplits:
    """Read and check a COCO folder, then split it deterministically."""
    root = check_root(cfg.get("root"), "coco_folder")
    path = root / str(cfg.get("annotations", "annotations.json"))
    data = read_json(path)
    bad = BadAnnotations(cfg.get("on_bad_annotation", "error"))
    classes = _categories(data, path)
    images = _images(data, root / str(cfg.get("images", "images")), path, bad)
    for ann in data.get("annotations", []):
        if not ann.get("iscrowd", 0):
            _add_annotation(ann, images, classes, path, bad)
    bad.summary(str(path))
    by_id = {int(c["id"]): str(c["name"]) for c in data["categories"]}
    names = [by_id[cid] for cid in sorted(classes)]
    return detection_splits([images[k] for k in sorted(images)], names, cfg)
