"""Detection: shapes_det boxes, detection heads on every backbone family, box augmentation, a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from cvzoo.augment import build_augmentation, unpad_boxes
from cvzoo.data import build_splits
from cvzoo.data.boxes import boxes_from_instances
from cvzoo.models import build_model
from cvzoo.tasks import TASKS, get_task

DETECTION_HEADS = ["fcos", "retinanet"]
BACKBONES = ["test_resnet", "test_vit", "test_convnext", "test_swin"]
NAMES_SHAPES = ["circle", "square", "triangle"]


def detection_batch(compose_cfg, size: int = 32, batch: int = 4):
    """A real shapes_det training batch, collated by the detection task."""
    cfg = compose_cfg("dataset=shapes_det", f"dataset.image_size={size}", "dataset.num_images=40")
    splits = build_splits(cfg.dataset)
    images, targets = get_task("detection").collate([splits.train[i] for i in range(batch)])
    return images.float() / 255, targets, splits.class_names


def test_boxes_follow_visible_pixels_of_border_cut_and_overlapping_objects():
    instances = torch.zeros(1, 16, 16, dtype=torch.uint8)
    masks = torch.zeros(1, 16, 16, dtype=torch.uint8)
    instances[0, 2:8, 2:10], masks[0, 2:8, 2:10] = 1, 1  # object 1: a circle-class rectangle
    instances[0, 5:12, 6:16], masks[0, 5:12, 6:16] = 2, 2  # object 2 covers part of it, cut by the border
    instances[0, 14:16, 0:1], masks[0, 14:16, 0:1] = 3, 1  # object 3: two visible pixels only
    boxes, labels = boxes_from_instances(instances, masks, min_pixels=4)
    assert boxes[0, 0].tolist() == [2, 2, 10, 8]  # the visible part of object 1 still spans 2..10
    assert boxes[0, 1].tolist() == [6, 5, 16, 12]  # clipped at the right border
    assert labels[0].tolist() == [0, 1, -1]  # object 3 is too small to label


def test_shapes_det_boxes_enclose_their_objects(compose_cfg):
    cfg = compose_cfg("dataset=shapes_det", "dataset.num_images=60")
    splits = build_splits(cfg.dataset)
    assert splits.task == "detection" and splits.class_names == ["circle", "square", "triangle"]
    boxes = torch.cat([splits.train[i][1]["boxes"] for i in range(len(splits.train))])
    assert len(boxes) > len(splits.train)  # several objects per image
    assert ((boxes[:, 0] == 0) | (boxes[:, 2] == 64)).any()  # some objects are cut by the border
    assert (boxes[:, 2:] > boxes[:, :2]).all() and boxes.min() >= 0 and boxes.max() <= 64


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("head", DETECTION_HEADS)
def test_detection_head_trains_one_step_on_each_backbone_family(compose_cfg, head, backbone):
    torch.manual_seed(0)
    cfg = compose_cfg(f"backbone={backbone}", f"head={head}", "dataset=shapes_det", "dataset.image_size=32")
    spec = OmegaConf.to_container(cfg, resolve=True)
    images, targets, names = detection_batch(compose_cfg)
    model, _ = build_model(
        spec["backbone"], spec["head"], len(names), spec["dataset"]["mean"], spec["dataset"]["std"]
    )
    task = TASKS["detection"]
    loss = task.criterion(model, 255)(model(images), targets)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    torch.optim.AdamW(model.parameters(), lr=1e-3).step()
    model.eval()
    with torch.no_grad():
        detections = task.predictions(model, model(images))
    assert len(detections) == len(images)
    for found in detections:
        assert found["boxes"].shape[1:] == (4,) and len(found["scores"]) == len(found["labels"])
        assert len(found["labels"]) <= spec["head"]["max_detections"]


def shifted_masks_as_images(size: int = 32) -> tuple[torch.Tensor, list[dict]]:
    """Three-channel images whose channel k is 1 inside object k (a rectangle) and its boxes."""
    images = torch.zeros(2, 3, size, size)
    rects = [
        [[4, 6, 14, 20], [18, 2, 30, 10], [10, 22, 26, 30]],
        [[0, 0, 9, 12], [12, 12, 32, 20], [5, 24, 8, 31]],
    ]
    for b, image_rects in enumerate(rects):
        for k, (x1, y1, x2, y2) in enumerate(image_rects):
            images[b, k, y1:y2, x1:x2] = 1.0
    targets = [{"boxes": torch.tensor(r, dtype=torch.float32), "labels": torch.arange(3)} for r in rects]
    return images, targets


def boxes_of_channels(image: torch.Tensor) -> dict[int, list[float]]:
    """The box of each channel's pixels above 0.5 (the moved object), by channel."""
    out = {}
    for k, channel in enumerate(image):
        ys, xs = torch.nonzero(channel > 0.5, as_tuple=True)
        if len(ys):
            out[k] = [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    return out


def test_box_augmentation_moves_boxes_with_their_objects():
    torch.manual_seed(0)
    cfg = {
        "geometric": {
            "hflip": {"p": 0.5},
            "vflip": {"p": 0.5},
            "affine": {"p": 1.0, "translate": [0.1, 0.1], "scale": [0.8, 1.2], "degrees": 0},
            "resized_crop": {"p": 0.5, "scale": [0.6, 1.0], "ratio": [1.0, 1.0]},
        }
    }
    augmentation = build_augmentation(cfg, "detection")
    for _ in range(5):
        images, targets = shifted_masks_as_images()
        moved, moved_targets = augmentation.with_boxes(images, targets)
        for image, target in zip(moved, moved_targets):
            from_pixels = boxes_of_channels(image)
            assert sorted(from_pixels) == sorted(target["labels"].tolist())  # only objects still in view
            for box, label in zip(target["boxes"].tolist(), target["labels"].tolist()):
                assert max(abs(a - b) for a, b in zip(box, from_pixels[label])) <= 1.5


def test_photometric_and_jpeg_transforms_leave_boxes_alone():
    cfg = {"colour": {"color_jitter": {"p": 1.0, "brightness": 0.4}, "noise": {"p": 1.0, "std": 0.05}}}
    images, targets = shifted_masks_as_images()
    augmentation = build_augmentation({**cfg, "jpeg": {"p": 1.0, "quality": 60}}, "detection")
    moved, moved_targets = augmentation.with_boxes(images, targets)
    assert not torch.equal(moved, images)
    for before, after in zip(targets, moved_targets):
        assert torch.equal(before["boxes"], after["boxes"]) and torch.equal(before["labels"], after["labels"])


def test_boxes_that_leave_the_image_are_dropped_and_the_rest_clipped():
    boxes = torch.tensor([[[-10.0, 2, -1, 8], [28, 4, 40, 9], [3, 3, 6, 6]]])
    target = {"boxes": boxes[0], "labels": torch.tensor([0, 1, 2])}
    (kept,) = unpad_boxes(boxes, torch.ones(1, 3, dtype=torch.bool), [target], (32, 32))
    assert kept["labels"].tolist() == [1, 2]
    assert kept["boxes"].tolist() == [[28, 4, 32, 9], [3, 3, 6, 6]]


def test_detection_run_leaves_a_record_with_map_and_a_pr_curve_the_report_draws(run_train, tmp_path):
    from cvzoo.cli import main

    result = run_train("head=fcos", "dataset=shapes_det", "dataset.fraction=0.2", "augmentation=basic")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "run finished:" in result.stdout and "val/mAP=" in result.stdout
    (path,) = Path(tmp_path / "logs" / "train" / "runs").glob("*/result.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and record["task"] == "detection" and record["monitor"] == "val/mAP"
    for key in ("test/mAP", "test/mAP50", "test/mAP75", "test/mAP_small"):
        assert 0.0 <= record["test"][key] <= 1.0
    assert record["per_class"]["names"] == ["circle", "square", "triangle"]
    assert len(record["per_class"]["test/ap"]) == 3
    assert record["dataset_meta"]["task"] == TASKS["detection"].metafeature_code
    curve = record["curves"]["test/pr@0.5"]  # COCO's 101 recall points, precision averaged over classes
    assert curve["recall"][0] == 0.0 and curve["recall"][-1] == 1.0 and len(curve["recall"]) == 101
    assert len(curve["precision"]) == 101
    assert all(p is None or 0.0 <= p <= 1.0 for p in curve["precision"])
    assert main(["report", str(path.parent.parent), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "curve_test_pr_0.5.png").stat().st_size > 0
    assert "](curve_test_pr_0.5.png)" in (tmp_path / "report" / "report.md").read_text()


@pytest.mark.slow
def test_detection_sweep_leaves_the_matrix(run_train, tmp_path, capsys):
    from cvzoo.cli import main

    result = run_train(
        "-m", "backbone=test_resnet,test_convnext", "head=fcos,retinanet", "dataset=shapes_det", timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = tmp_path / "logs" / "train" / "multiruns"
    argv = [
        "matrix",
        str(runs),
        "--rows",
        "backbone",
        "--cols",
        "head",
        "--metric",
        "val/mAP",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    assert "**val/mAP** by backbone × head" in capsys.readouterr().out
    counts = (tmp_path / "matrix_count.csv").read_text().splitlines()
    assert counts[0].split(",")[1:] == ["fcos", "retinanet"] and len(counts) == 3
    assert all(line.endswith(",1,1") for line in counts[1:])


def test_detection_report_shows_map_columns_per_class_ap_bars_and_overlaid_pr_curves(tmp_path):
    from cvzoo.results import write_record
    from cvzoo.results.report import write_report

    recall = [i / 100 for i in range(101)]
    for run, score in (("a", 0.4), ("b", 0.5)):
        precision = [max(0.0, 1 - r * (1 - score)) if r < 0.9 else None for r in recall]
        write_record(tmp_path / run, {
            "status": "ok", "task": "detection", "backbone": "resnet18", "head": f"fcos{run}",
            "dataset": "shapes_det", "monitor": "val/mAP", "monitor_mode": "max", "seed": 0,
            "config": {"backbone": {"name": "resnet18"}, "head": {"name": f"fcos{run}"}},
            "best_val": {"val/mAP": score}, "test": {"test/mAP": score, "test/mAP50": score + 0.3},
            "per_class": {"names": NAMES_SHAPES, "test/ap": [score, 0.2, None]}, "confusion_matrix": [],
            "curves": {"test/pr@0.5": {"recall": recall, "precision": precision}},
        })  # fmt: skip
    paths = write_report(tmp_path)
    assert {"per_class_ap/a", "per_class_ap/b", "curve_chart/test/pr@0.5"} <= set(paths)
    assert paths["curve_chart/test/pr@0.5"].name == "curve_test_pr_0.5.png"
    assert not any(key.startswith("confusion/") for key in paths)
    text = paths["md"].read_text()
    assert "test/mAP | test/mAP50" in text and "- **mAP**: " in text and "- **mAP50**: " in text
    assert "## Test curve `test/pr@0.5`" in text and "](curve_test_pr_0.5.png)" in text
