"""predict.py: checkpoint or exported ONNX on image files -> predictions.csv (+ masks and overlays)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from cvzoo.errors import EXIT_BAD_INPUT, DataError, ModelError
from cvzoo.export.pipeline import ExportOptions, export_model
from cvzoo.inference.geometry import Geometry
from cvzoo.inference.inputs import collect_inputs, load_batch
from cvzoo.inference.run import PredictOptions, predict
from tests.deploy_helpers import (
    exported_run,
    run_script,
    trained_run,
    untrained_checkpoint,
    write_digit_images,
)

__all__ = ["exported_run", "trained_run"]  # fixtures from deploy_helpers used below


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts."""
    with path.open() as handle:
        return list(csv.DictReader(handle))


QUIET = PredictOptions(progress=False)


def test_torch_and_onnx_backends_give_the_same_answers(exported_run: Path, tmp_path: Path) -> None:
    write_digit_images(tmp_path / "images")
    ckpt = exported_run / "checkpoints" / "best.ckpt"
    by_torch = predict(ckpt, tmp_path / "images", tmp_path / "torch", opts=QUIET)
    by_onnx = predict(
        exported_run / "export" / "model.onnx", tmp_path / "images", tmp_path / "onnx", opts=QUIET
    )
    also_onnx = predict(ckpt, tmp_path / "images", tmp_path / "onnx2", backend="onnx", opts=QUIET)
    rows = read_csv(tmp_path / "torch" / "predictions.csv")
    assert list(rows[0]) == ["file", "label", "score", "topk", "rejected"] and len(rows) == 12
    assert "more/digit_00_0.png" in {r["file"] for r in rows}
    assert len(rows[0]["topk"].split()) == 5
    for other in (by_onnx, also_onnx):
        assert [r["label"] for r in other.rows] == [r["label"] for r in by_torch.rows]
        scores = [float(r["score"]) for r in other.rows]
        np.testing.assert_allclose(scores, [float(r["score"]) for r in by_torch.rows], atol=1e-5)
    assert [p.name for p, _ in by_torch.failed] == ["broken.jpg"]
    assert read_csv(tmp_path / "torch" / "errors.csv")[0]["file"].endswith("broken.jpg")


def test_uint8_images_fed_to_onnx_match_predict_py_with_torch(exported_run: Path, tmp_path: Path) -> None:
    paths = write_digit_images(tmp_path / "images")
    done = run_script(
        "predict.py",
        f"model={exported_run / 'checkpoints' / 'best.ckpt'}",
        f"inputs={tmp_path / 'images'}",
        f"out={tmp_path / 'out'}",
        "backend=torch",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "predicted 12 images, 1 unreadable skipped" in done.stdout
    assert "warning: skipped unreadable image" in done.stderr
    labels = {r["file"]: r["label"] for r in read_csv(tmp_path / "out" / "predictions.csv")}
    card = json.loads((exported_run / "export" / "model.json").read_text())
    geometry = Geometry.from_card(card["input"]["geometry"], 48)  # what the card tells a client
    assert geometry == Geometry.squash(48)  # digits live in memory at the training size
    batch = load_batch(paths, geometry)
    session = ort.InferenceSession(
        str(exported_run / "export" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    logits = session.run(None, {"images": batch.images})[0]
    names = [p.relative_to(tmp_path / "images").as_posix() for p in paths]
    assert [labels[n] for n in names] == [str(i) for i in logits.argmax(1)]


def test_reject_threshold_answers_unknown_and_can_be_disabled(exported_run: Path, tmp_path: Path) -> None:
    write_digit_images(tmp_path / "images")
    ckpt = exported_run / "checkpoints" / "best.ckpt"
    strict = predict(
        ckpt, tmp_path / "images", tmp_path / "a", opts=PredictOptions(threshold=1.01, progress=False)
    )
    assert strict.rejected == 12 and {r["label"] for r in strict.rows} == {"unknown"}
    assert all(
        r["topk"].split()[0].split(":")[0].isdigit() for r in strict.rows
    )  # the best class is still shown
    off = predict(
        ckpt,
        tmp_path / "images",
        tmp_path / "b",
        opts=PredictOptions(threshold=1.01, reject=False, progress=False),
    )
    assert off.rejected == 0 and off.threshold is None


def test_inputs_can_be_a_file_a_folder_or_a_glob(tmp_path: Path) -> None:
    paths = write_digit_images(tmp_path / "images", count=4)
    assert collect_inputs(paths[1]) == [paths[1]]
    assert len(collect_inputs(tmp_path / "images")) == 5  # broken.jpg too: skipped when decoding fails
    assert collect_inputs(str(tmp_path / "images" / "more" / "*.png")) == [paths[0], paths[3]]
    with pytest.raises(DataError, match="matches no image files"):
        collect_inputs(str(tmp_path / "*.tif"))


def test_missing_model_and_empty_inputs_are_one_line_errors(exported_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist; pass a checkpoint"):
        predict(tmp_path / "nope.ckpt", tmp_path, tmp_path / "out", opts=QUIET)
    (tmp_path / "empty").mkdir()
    done = run_script(
        "predict.py", f"model={exported_run / 'export'}", f"inputs={tmp_path / 'empty'}", cwd=tmp_path
    )
    assert done.returncode == EXIT_BAD_INPUT and done.stderr.strip().startswith("error: inputs=")
    assert len(done.stderr.strip().splitlines()) == 1


def test_onnx_backend_of_an_unexported_checkpoint_says_how_to_export(
    trained_run: Path, tmp_path: Path
) -> None:
    shutil.copytree(trained_run, tmp_path / "run", ignore=shutil.ignore_patterns("export"))
    with pytest.raises(ModelError, match=r"python export\.py ckpt="):
        predict(
            tmp_path / "run" / "checkpoints" / "best.ckpt",
            tmp_path,
            tmp_path / "o",
            backend="onnx",
            opts=QUIET,
        )


@pytest.mark.slow
def test_segmentation_writes_index_masks_and_overlays_with_both_backends(tmp_path: Path) -> None:
    ckpt = untrained_checkpoint(tmp_path, "test_resnet", "fpn")
    export_model(ExportOptions(ckpt=str(ckpt), progress=False))
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate([(50, 40), (32, 32), (80, 64)]):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
            images / f"img{i}.png"
        )
    by_torch = predict(ckpt, images, tmp_path / "torch", opts=QUIET)
    predict(ckpt, images, tmp_path / "onnx", backend="onnx", opts=QUIET)
    assert list(by_torch.rows[0]) == [
        "file",
        "mask",
        "overlay",
        "mean_confidence",
        "rejected_share",
        "classes",
    ]
    for row in by_torch.rows:
        with Image.open(images / row["file"]) as original:
            mask = Image.open(tmp_path / "torch" / row["mask"])
            overlay = Image.open(tmp_path / "torch" / row["overlay"])
            assert mask.size == original.size == overlay.size and mask.mode == "L"
        torch_mask = np.asarray(mask)
        onnx_mask = np.asarray(Image.open(tmp_path / "onnx" / row["mask"]))
        assert (torch_mask == onnx_mask).mean() > 0.99 and torch_mask.max() < 4
