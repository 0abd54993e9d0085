"""coco_folder and yolo_folder: round trips of shapes_det boxes and one clear line per bad annotation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from PIL import Image

from cvzoo.data import build_splits
from cvzoo.data.shapes import ShapesSpec
from cvzoo.data.shapes_det import generate_boxes
from cvzoo.errors import DataError

NAMES = ["circle", "square", "triangle"]


def shapes_samples(n: int = 12) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``n`` shapes_det images (uint8, 64 px) with their boxes and labels."""
    data = generate_boxes(ShapesSpec(num_images=n, seed=3), min_pixels=8)
    keep = data["labels"] >= 0
    return [(data["images"][i], data["boxes"][i][keep[i]], data["labels"][i][keep[i]]) for i in range(n)]


def write_images(folder: Path, samples) -> list[str]:
    """Save the images as PNG files ``000.png``, ... and return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, (image, _, _) in enumerate(samples):
        names.append(f"{i:03d}.png")
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / names[-1])
    return names


def write_coco(root: Path, samples) -> Path:
    """A COCO folder (images/ + annotations.json, category ids starting at 1) of ``samples``."""
    names = write_images(root / "images", samples)
    images = [{"id": i, "file_name": name, "width": 64, "height": 64} for i, name in enumerate(names)]
    annotations = []
    for i, (_, boxes, labels) in enumerate(samples):
        for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist()):
            box = [x1, y1, x2 - x1, y2 - y1]
            annotations.append({"id": len(annotations), "image_id": i, "category_id": label + 1, "bbox": box})
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(NAMES)]
    coco = {"images": images, "annotations": annotations, "categories": categories}
    (root / "annotations.json").write_text(json.dumps(coco))
    return root


def write_yolo(root: Path, samples) -> Path:
    """A YOLO folder (images/, labels/*.txt, classes.txt) of ``samples``."""
    names = write_images(root / "images", samples)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("\n".join(NAMES) + "\n")
    for name, (_, boxes, labels) in zip(names, samples):
        lines = []
        for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist()):
            lines.append(f"{label} {(x1 + x2) / 128} {(y1 + y2) / 128} {(x2 - x1) / 64} {(y2 - y1) / 64}")
        (root / "labels" / name.replace(".png", ".txt")).write_text("\n".join(lines) + "\n")
    return root


def load_folder(compose_cfg, kind: str, root: Path, *overrides: str):
    """build_splits for ``dataset=<kind> dataset.root=<root>`` at 64 px."""
    cfg = compose_cfg(f"dataset={kind}", f"dataset.root={root}", "dataset.image_size=64", *overrides)
    return build_splits(cfg.dataset)


@pytest.mark.parametrize("kind,writer", [("coco_folder", write_coco), ("yolo_folder", write_yolo)])
def test_folder_round_trip_gives_back_the_boxes(compose_cfg, tmp_path, kind, writer):
    samples = shapes_samples()
    splits = load_folder(compose_cfg, kind, writer(tmp_path / kind, samples))
    assert splits.task == "detection" and splits.class_names == NAMES
    dataset = splits.train.dataset  # all images in file order; the splits index into it
    assert len(dataset) == len(samples)
    for (image, boxes, labels), (read_image, target) in zip(samples, dataset):
        assert torch.equal(read_image, image)
        assert torch.equal(target["labels"], labels)
        assert torch.allclose(target["boxes"], boxes, atol=1e-4)


def coco_with(tmp_path: Path, change) -> Path:
    """A valid COCO folder, then ``change(coco_dict)`` applied to its JSON."""
    root = write_coco(tmp_path / "coco", shapes_samples(4))
    path = root / "annotations.json"
    coco = json.loads(path.read_text())
    change(coco)
    path.write_text(json.dumps(coco))
    return root


COCO_BAD = {
    "outside": (lambda c: c["annotations"][0].update(bbox=[50, 50, 30, 10]), "lies outside the 64x64 image"),
    "zero area": (lambda c: c["annotations"][0].update(bbox=[5, 5, 0, 10]), "has zero area"),
    "unknown category": (lambda c: c["annotations"][0].update(category_id=9), "category_id=9, not in"),
    "malformed": (lambda c: c["annotations"][0].update(bbox=[1, 2, 3]), "expected [x, y, width, height]"),
    "missing image": (lambda c: c["images"][0].update(file_name="gone.png"), "file_name='gone.png'"),
}


@pytest.mark.parametrize("case", COCO_BAD)
def test_each_bad_coco_annotation_is_one_line_naming_file_and_value(compose_cfg, tmp_path, case):
    change, expected = COCO_BAD[case]
    root = coco_with(tmp_path, change)
    with pytest.raises(DataError) as err:
        load_folder(compose_cfg, "coco_folder", root)
    message = str(err.value)
    assert expected in message and "annotations.json" in message and "on_bad_annotation=skip" in message
    assert "\n" not in message


def yolo_with(tmp_path: Path, change) -> Path:
    """A valid YOLO folder, then ``change(root)`` applied to its files."""
    root = write_yolo(tmp_path / "yolo", shapes_samples(4))
    change(root)
    return root


YOLO_BAD = {
    "label without image": (
        lambda r: (r / "labels" / "extra.txt").write_text("0 0.5 0.5 0.1 0.1\n"),
        "extra.txt",
    ),
    "malformed line": (lambda r: (r / "labels" / "000.txt").write_text("0 0.5 0.5 0.1\n"), "000.txt:1 is"),
    "unknown class": (lambda r: (r / "labels" / "001.txt").write_text("7 0.5 0.5 0.1 0.1\n"), "has class 7"),
    "outside": (lambda r: (r / "labels" / "002.txt").write_text("0 0.95 0.5 0.3 0.1\n"), "lies outside"),
    "zero area": (lambda r: (r / "labels" / "003.txt").write_text("1 0.5 0.5 0 0.1\n"), "has zero area"),
}


@pytest.mark.parametrize("case", YOLO_BAD)
def test_each_bad_yolo_annotation_is_one_line_naming_file_and_value(compose_cfg, tmp_path, case):
    change, expected = YOLO_BAD[case]
    root = yolo_with(tmp_path, change)
    with pytest.raises(DataError) as err:
        load_folder(compose_cfg, "yolo_folder", root)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_skip_leaves_bad_annotations_out_and_counts_them(compose_cfg, tmp_path, caplog):
    def spoil(root: Path) -> None:
        (root / "labels" / "000.txt").write_text("0 0.5 0.5 0.2 0.2\nnot a box\n9 0.5 0.5 0.1 0.1\n")

    root = yolo_with(tmp_path, spoil)
    with caplog.at_level(logging.WARNING):
        splits = load_folder(compose_cfg, "yolo_folder", root, "dataset.on_bad_annotation=skip")
    _, target = splits.train.dataset[0]
    assert target["labels"].tolist() == [0]
    assert "skipped 2 bad annotations" in caplog.text


def test_coco_images_without_width_and_height_take_the_size_of_the_file(compose_cfg, tmp_path):
    def drop_sizes(coco: dict) -> None:
        for entry in coco["images"]:
            del entry["width"], entry["height"]

    root = coco_with(tmp_path, drop_sizes)
    splits = load_folder(compose_cfg, "coco_folder", root)
    assert splits.train.dataset.items[0].width == 64 and splits.train.dataset.items[0].height == 64
