"""Segmentation from files: folder_seg (images/ + masks/) and oxford_pets (torchvision layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cvzoo.data import build_splits
from cvzoo.errors import DataError

PALETTE = [[0, 0, 0], [200, 0, 0], [0, 0, 200]]


def write_image(path: Path, width: int = 20, height: int = 16) -> None:
    """A random RGB image file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(len(path.name)).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_mask(path: Path, values: np.ndarray, palette: list[list[int]] | None = None) -> None:
    """A single-channel mask of class indices (or an RGB colour mask when ``palette`` is given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(palette, dtype=np.uint8)[values] if palette else values.astype(np.uint8)
    Image.fromarray(array).save(path)


def make_folder(root: Path, n: int = 10, palette: list[list[int]] | None = None) -> Path:
    """``root/images/img{i}.jpg`` and ``root/masks/img{i}.png``: left half class 1, a corner class 2."""
    for i in range(n):
        write_image(root / "images" / f"img{i}.jpg")
        values = np.zeros((16, 20), dtype=np.int64)
        values[:, :10] = 1
        values[:4, -4:] = 2
        if palette is None:
            values[-1, -1] = 255  # ignored pixel
        write_mask(root / "masks" / f"img{i}.png", values, palette)
    return root


def load(compose_cfg, root: Path, *overrides: str):
    """build_splits for ``dataset=folder_seg dataset.root=root`` at 8x8."""
    cfg = compose_cfg("dataset=folder_seg", f"dataset.root={root}", "dataset.image_size=8", *overrides)
    return build_splits(cfg.dataset)


def test_folder_pairs_images_and_masks_with_names_from_classes_yaml(compose_cfg, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "seg")
    (root / "classes.yaml").write_text("names: [background, left, corner]\n")
    splits = load(compose_cfg, root)
    assert splits.task == "segmentation" and splits.class_names == ["background", "left", "corner"]
    assert len(splits.train) + len(splits.val) + len(splits.test) == 10
    image, mask = splits.train[0]
    assert image.shape == (3, 8, 8) and image.dtype == torch.uint8
    assert mask.shape == (8, 8) and mask.dtype == torch.int64
    assert set(mask.unique().tolist()) <= {0, 1, 2, 255}  # nearest resize keeps labels
    assert (mask[:, :4] == 1).all()


def test_command_line_class_names_win_and_missing_names_are_numbered(compose_cfg, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "seg")
    (root / "classes.yaml").write_text("names: [a, b, c]\n")
    assert load(compose_cfg, root, "dataset.class_names=[bg,cat,dog]").class_names == ["bg", "cat", "dog"]
    (root / "classes.yaml").unlink()
    assert load(compose_cfg, root).class_names == ["0", "1", "2"]


def test_rgb_palette_masks_become_class_indices(compose_cfg, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "seg", palette=PALETTE)
    (root / "classes.yaml").write_text(f"names: [background, red, blue]\npalette: {PALETTE}\n")
    _, mask = load(compose_cfg, root).train[0]
    assert set(mask.unique().tolist()) == {0, 1, 2}


def test_fraction_subsets_the_training_split(compose_cfg, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "seg", n=20)
    full, half = load(compose_cfg, root), load(compose_cfg, root, "dataset.fraction=0.5")
    assert (len(full.train), len(half.train)) == (14, 7)
    assert set(half.train.indices) <= set(full.train.indices)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("wrong_size", r"mask .*img3\.png is 10x8 but its image .*img3\.jpg is 20x16"),
        (
            "bad_value",
            r"mask .*img3\.png has value 7, which is neither a class index \(0\.\.2\) nor ignore_index",
        ),
        ("no_mask", r"image .*img3\.jpg has no mask"),
        ("empty", r"images holds no images"),
        ("no_folders", r"needs images/ and masks/ folders"),
        ("rgb_without_palette", r"mask .*img3\.png is an RGB colour image; give one colour per class"),
        ("unknown_colour", r"mask .*img3\.png has colour \(1, 2, 3\), which is not in the palette"),
    ],
)
def test_bad_folders_fail_with_one_line_before_training(
    compose_cfg, tmp_path: Path, breakage: str, message: str
) -> None:
    root = make_folder(tmp_path / "seg")
    (root / "classes.yaml").write_text("names: [background, left, corner]\n")
    mask = root / "masks" / "img3.png"
    if breakage == "wrong_size":
        write_mask(mask, np.zeros((8, 10), dtype=np.int64))
    elif breakage == "bad_value":
        write_mask(mask, np.full((16, 20), 7))
    elif breakage == "no_mask":
        mask.unlink()
    elif breakage == "empty":
        for path in (root / "images").iterdir():
            path.unlink()
    elif breakage == "no_folders":
        (root / "masks").rename(root / "labels")
    elif breakage == "rgb_without_palette":
        Image.fromarray(np.full((16, 20, 3), (5, 0, 0), dtype=np.uint8)).save(mask)
    else:
        (root / "classes.yaml").write_text(f"names: [background, red, blue]\npalette: {PALETTE}\n")
        Image.fromarray(np.full((16, 20, 3), (1, 2, 3), dtype=np.uint8)).save(mask)
    with pytest.raises(DataError, match=message) as info:
        load(compose_cfg, root)
    assert "\n" not in str(info.value)


def make_pets(root: Path) -> None:
    """A tiny tree in torchvision's Oxford-IIIT Pet layout (trimaps: 1 pet, 2 background, 3 border)."""
    base = root / "oxford-iiit-pet"
    ids = {"trainval": [f"cat_{i}" for i in range(10)], "test": ["dog_1", "dog_2"]}
    trimap = np.full((20, 20), 2)
    trimap[4:12, 5:15] = 3
    trimap[5:11, 6:14] = 1
    for split, names in ids.items():
        (base / "annotations").mkdir(parents=True, exist_ok=True)
        (base / "annotations" / f"{split}.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))
        for name in names:
            write_image(base / "images" / f"{name}.jpg", 20, 20)
            write_mask(base / "annotations" / "trimaps" / f"{name}.png", trimap)


@pytest.mark.parametrize(("border", "names", "border_value"), [("ignore", 2, 255), ("class", 3, 2)])
def test_oxford_pets_maps_trimaps_to_classes(
    compose_cfg, tmp_path: Path, border: str, names: int, border_value: int
) -> None:
    make_pets(tmp_path / "data" / "oxford_pets")
    cfg = compose_cfg("dataset=oxford_pets", "dataset.image_size=20", f"dataset.border={border}")
    splits = build_splits(cfg.dataset)
    assert splits.num_classes == names and splits.class_names[:2] == ["background", "pet"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (9, 1, 2)
    _, mask = splits.test[0]
    assert mask[0, 0] == 0 and mask[8, 10] == 1 and mask[4, 5] == border_value


def test_oxford_pets_offline_is_one_data_error(compose_cfg, monkeypatch) -> None:
    import torchvision.datasets.oxford_iiit_pet as pets

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(pets, "download_and_extract_archive", offline)
    cfg = compose_cfg("dataset=oxford_pets")
    with pytest.raises(
        DataError, match=r"oxford_pets could not be downloaded to .*oxford_pets .*connect to the internet"
    ):
        build_splits(cfg.dataset)
