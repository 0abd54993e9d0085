"""predict.py sees each file exactly as validation saw it: the dataset's resize, then the eval crop."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import onnx
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from cvzoo.data import build_splits
from cvzoo.data.images import read_rgb
from cvzoo.data.resize import center_fit, fit_image, fit_mask
from cvzoo.export.card import read_metadata
from cvzoo.export.pipeline import ExportOptions, export_model
from cvzoo.inference.checkpoint import load_checkpoint, save_checkpoint_from_config
from cvzoo.inference.geometry import Geometry
from cvzoo.inference.inputs import load_split
from cvzoo.inference.postprocess import softmax
from cvzoo.inference.predictor import TorchPredictor
from cvzoo.inference.run import PredictOptions, predict
from cvzoo.module import CvzooModule
from tests.deploy_helpers import compose_train

QUIET = PredictOptions(progress=False, reject=False)


def write_folder(root: Path) -> list[Path]:
    """``root/{train,val,test}/{blue,red}/`` of 120x90 JPEGs (decoded at a reduced DCT scale); val paths."""
    rng = np.random.default_rng(0)
    val = []
    for split, count in (("train", 8), ("val", 3), ("test", 2)):
        for label, channel in (("blue", 2), ("red", 0)):  # the split order: sorted classes
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 120, (90, 120, 3), dtype=np.uint8)
                pixels[20:70, 40 + 10 * i : 90, channel] = 230  # off-centre: the crop decides
                path = root / split / label / f"{i}.jpg"
                Image.fromarray(pixels).save(path, quality=90)
                val += [path] if split == "val" else []
    return val


def train_folder(root: Path, *overrides: str) -> Path:
    """One epoch of test_resnet on the folder; the best checkpoint."""
    from cvzoo.training import run_training

    run_dir = root / "run"
    cfg = compose_train(
        root,
        "backbone=test_resnet",
        "dataset=folder",
        f"dataset.root={root / 'images'}",
        "dataset.image_size=32",
        "dataset.num_workers=0",
        "dataset.batch_size=4",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "logger=none",
        "test=false",
        *overrides,
        output_dir=run_dir,
    )
    run_training(cfg)
    return run_dir / "checkpoints" / "best.ckpt"


def validation_probabilities(ckpt: Path) -> np.ndarray:
    """Softmax of the validation pass: the val split through the module's own device-side fit."""
    data = torch.load(ckpt, map_location="cpu", weights_only=False)
    hparams = data["hyper_parameters"]
    module = CvzooModule(hparams["cfg"], hparams["class_names"], hparams["ignore_index"])
    module.load_state_dict(data["state_dict"])
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    module.eval()
    val = build_splits(hparams["cfg"]["dataset"]).val
    images = torch.stack([val[i][0] for i in range(len(val))])
    targets = torch.stack([val[i][1] for i in range(len(val))])
    with torch.inference_mode():
        fitted, _ = module.on_after_batch_transfer((images, targets), 0)
        return softmax(module(fitted).numpy())


@pytest.mark.parametrize(
    ("resize", "cache_size", "exact"),
    [("crop", 40, True), pytest.param("letterbox", 48, False, id="letterbox-resized-crop")],
)
def test_predict_gives_the_validation_pass_probabilities(
    tmp_path: Path, resize: str, cache_size: int, exact: bool
) -> None:
    val_paths = write_folder(tmp_path / "images")
    # crop: the 0.8 eval crop of 40 px is 32 px, no resize; letterbox: a 42 px crop resized to 32
    ckpt = train_folder(
        tmp_path, f"dataset.resize={resize}", f"dataset.cache_size={cache_size}", "dataset.eval_crop=0.8"
    )
    expected = validation_probabilities(ckpt)
    geometry = TorchPredictor(ckpt).info.geometry
    assert (geometry.resize, geometry.cache_size, geometry.image_size) == (resize, cache_size, 32)
    answers = predict(ckpt, val_paths, tmp_path / "out", opts=QUIET)
    names = ["blue", "red"]
    assert [r["label"] for r in answers.rows] == [names[i] for i in expected.argmax(1)]
    scores = np.array([float(r["score"]) for r in answers.rows])
    np.testing.assert_allclose(scores, expected.max(1), atol=1e-6 if exact else 5e-4)
    # calibration and export parity read the split through the same fit
    images, _ = load_split(load_checkpoint(ckpt)[1].cfg["dataset"], "val")
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
    by_split = softmax(TorchPredictor(ckpt)(images)).max(1)
    np.testing.assert_allclose(by_split, expected.max(1), atol=1e-6 if exact else 5e-4)


def test_a_checkpoint_without_geometry_is_read_as_squash_and_still_predicts(tmp_path: Path) -> None:
    val_paths = write_folder(tmp_path / "images")
    cfg = compose_train(
        tmp_path, "backbone=test_resnet", "dataset=folder", f"dataset.root={tmp_path / 'images'}",
        "dataset.image_size=32", "dataset.num_workers=0",
    )  # fmt: skip
    ckpt = save_checkpoint_from_config(OmegaConf.to_container(cfg, resolve=True), tmp_path / "old.ckpt")
    data = torch.load(ckpt, map_location="cpu", weights_only=False)
    for key in ("cache", "cache_dir", "cache_size", "resize", "eval_crop"):  # written before the cache
        data["hyper_parameters"]["cfg"]["dataset"].pop(key)
    torch.save(data, ckpt)
    model, meta = load_checkpoint(ckpt)
    assert meta.geometry == Geometry.squash(32)
    answers = predict(ckpt, val_paths, tmp_path / "out", opts=QUIET)
    squashed = np.stack([fit_image(read_rgb(p), 32, "squash") for p in val_paths])
    with torch.inference_mode():
        probs = softmax(model(torch.from_numpy(squashed).float() / 255).numpy())
    assert [r["label"] for r in answers.rows] == [meta.class_names[i] for i in probs.argmax(1)]
    np.testing.assert_allclose([float(r["score"]) for r in answers.rows], probs.max(1), atol=1e-6)


def test_an_old_card_without_geometry_means_squash() -> None:
    assert Geometry.from_card(None, 48) == Geometry.squash(48)
    crop = Geometry.of_dataset(
        {"task": "classification", "image_size": 224, "cache_size": 256, "resize": "crop", "eval_crop": 0.875}
    )
    assert Geometry.from_card(crop.to_dict(), 224) == crop and crop.crop_size == 224
    assert crop.describe().startswith(
        "decode as RGB (JPEGs may use a reduced DCT scale covering 256 px), resize the short side "
        "to 256 px keeping the aspect ratio and take the centre "
        "256x256 (bilinear, antialiased); take the centre 224x224 crop; nothing else"
    )
    assert "resize it to 224x224" in Geometry("letterbox", 512, 224, 0.875).describe()


@pytest.mark.parametrize("resize", ["crop", "letterbox", "squash"])
def test_predicted_masks_land_on_the_pixels_they_were_predicted_for(resize: str) -> None:
    # A 30x20 mask upscaled into a 40 px square, centre-cropped to 32: every source pixel the model
    # saw comes back with its own label; the pixels it did not see come back as ignore_index.
    source = np.random.default_rng(0).integers(0, 4, (20, 30), dtype=np.uint8)
    geometry = Geometry(resize, 40, 32, 0.8)
    square = torch.from_numpy(fit_mask(source, 40, resize, fill=255))
    _, seen = center_fit(torch.zeros(1, 3, 40, 40), square[None], 32, 0.8)
    back = geometry.mask_to_source(seen[0].numpy(), 30, 20, fill=255)
    covered = back != 255
    assert back.shape == source.shape and (back[covered] == source[covered]).all()
    expected_cols = {"crop": 16, "letterbox": 24, "squash": 24}[resize]  # the centre 32 of 40 px
    assert covered.sum(1).max() == expected_cols


def test_the_exported_card_tells_a_client_the_crop_and_onnx_predicts_like_torch(tmp_path: Path) -> None:
    val_paths = write_folder(tmp_path / "images")
    ckpt = train_folder(tmp_path, "dataset.resize=crop", "dataset.cache_size=40", "dataset.eval_crop=0.8")
    card = export_model(ExportOptions(ckpt=str(ckpt), dynamic=False, opencv=False, progress=False))
    assert card["schema_version"] == 2 and card["input"]["size"] == [32, 32]
    assert card["input"]["geometry"] == {
        "resize": "crop", "cache_size": 40, "image_size": 32, "eval_crop": 0.8, "jpeg_draft": True,
        "crop_size": 32,
    }  # fmt: skip
    assert "take the centre 32x32 crop" in card["input"]["preprocessing"]
    onnx_path = ckpt.parents[1] / "export" / "model.onnx"
    facts = read_metadata({p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props})
    assert facts["geometry"] == card["input"]["geometry"]  # a card-less client finds it in the file
    parity = json.loads((ckpt.parents[1] / "export" / "parity.json").read_text())
    assert parity["ok"] and parity["data"].startswith("6 validation images of folder")
    by_torch = predict(ckpt, val_paths, tmp_path / "t", opts=QUIET)
    by_onnx = predict(onnx_path, val_paths, tmp_path / "o", opts=QUIET)
    np.testing.assert_allclose(
        [float(r["score"]) for r in by_onnx.rows], [float(r["score"]) for r in by_torch.rows], atol=1e-5
    )


def test_segmentation_masks_cover_the_original_image_and_mark_the_cropped_strips(tmp_path: Path) -> None:
    root = tmp_path / "seg"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(rng.integers(0, 3, (40, 60), dtype=np.uint8)).save(root / "masks" / f"{i}.png")
    cfg = compose_train(
        tmp_path, "backbone=test_resnet", "head=fpn", "dataset=folder_seg", f"dataset.root={root}",
        "dataset.image_size=32", "dataset.cache_size=40", "dataset.eval_crop=0.8", "dataset.num_workers=0",
    )  # fmt: skip
    ckpt = save_checkpoint_from_config(OmegaConf.to_container(cfg, resolve=True), tmp_path / "seg.ckpt")
    answers = predict(ckpt, root / "images" / "0.png", tmp_path / "out", opts=QUIET)
    mask = np.asarray(Image.open(tmp_path / "out" / answers.rows[0]["mask"]))
    # 60x40 -> centre 40x40 (columns 10..49) -> centre 32 of 40 px: columns 14..45, rows 4..35 seen
    assert mask.shape == (40, 60)
    seen = np.zeros_like(mask, dtype=bool)
    seen[4:36, 14:46] = True
    assert (mask[~seen] == 255).all() and (mask[seen] < 3).all()
