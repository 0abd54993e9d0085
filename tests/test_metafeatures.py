"""Dataset meta-features on synthetic images: the numbers mean what their names say."""

from __future__ import annotations

import numpy as np
import pytest

from cvzoo.errors import DataError
from cvzoo.predictors.metafeatures import MAX_SAMPLE, dataset_meta_features


def test_classification_features_of_grey_balanced_images():
    images = np.full((40, 16, 24, 3), 128, np.uint8)
    labels = np.repeat(np.arange(4), 10)
    meta = dataset_meta_features(images, labels, "classification", num_classes=4)
    assert meta["num_images"] == 40 and meta["num_classes"] == 4 and meta["task"] == 0
    assert (meta["image_height"], meta["image_width"], meta["channels"]) == (16, 24, 3)
    assert meta["brightness_mean"] == pytest.approx(128 / 255)
    assert meta["contrast"] == pytest.approx(0.0, abs=1e-6)
    assert meta["colourfulness"] == pytest.approx(0.0, abs=1e-3)
    assert meta["class_entropy"] == pytest.approx(1.0)
    assert meta["class_imbalance_ratio"] == 1.0
    assert np.isnan(meta["object_fraction"])


def test_colour_contrast_and_imbalance_move_the_right_way():
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (30, 8, 8, 3), dtype=np.uint8)
    red = np.zeros((30, 8, 8, 3), np.uint8)
    red[..., 0] = 255
    skewed = np.array([0] * 27 + [1] * 3)
    meta_noisy = dataset_meta_features(noisy, skewed, "classification", 2)
    meta_red = dataset_meta_features(red, np.arange(30) % 2, "classification", 2)
    assert meta_noisy["contrast"] > 0.1 and meta_red["contrast"] == pytest.approx(0, abs=1e-6)
    assert meta_red["colourfulness"] > 50
    assert meta_noisy["class_imbalance_ratio"] == 9.0 and meta_noisy["class_entropy"] < 0.5


def test_segmentation_object_fraction_ignores_unlabelled_pixels_and_takes_nchw():
    images = np.zeros((5, 3, 10, 10), np.uint8)  # channels first
    masks = np.zeros((5, 10, 10), np.uint8)
    masks[:, :5, :] = 2  # half the pixels are objects
    masks[:, 9, :] = 255  # ignored row
    meta = dataset_meta_features(images, masks, "segmentation", num_classes=3)
    assert meta["task"] == 1 and (meta["image_height"], meta["channels"]) == (10, 3)
    assert meta["object_fraction"] == pytest.approx(50 / 90)


def test_large_datasets_are_sampled_but_counted_in_full():
    images = np.zeros((MAX_SAMPLE + 100, 4, 4, 1), np.uint8)
    meta = dataset_meta_features(images, np.zeros(len(images), int), "classification", 1)
    assert meta["num_images"] == MAX_SAMPLE + 100 and meta["channels"] == 1


def test_bad_task_is_a_one_line_error():
    with pytest.raises(DataError, match="unknown task 'keypoints'"):
        dataset_meta_features(np.zeros((2, 4, 4, 3)), np.zeros(2), "keypoints", 2)
