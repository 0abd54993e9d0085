"""Aspect-preserving fits of decoded images and masks: what the cache stores and the device crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cvzoo.data.resize import center_fit, fit_image, fit_mask


def test_resizing_keeps_the_aspect_ratio():
    # A 40x20 image: left half black, right half white, a red column in the middle.
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, 20:] = 255
    image = Image.fromarray(pixels)
    cropped = fit_image(image, 10, "crop")  # the centre 20x20, scaled to 10x10
    assert cropped.shape == (3, 10, 10)
    assert cropped[:, :, :4].max() == 0 and cropped[:, :, 6:].min() == 255
    boxed = fit_image(image, 10, "letterbox")  # 10x5 in the middle, black bars above and below
    assert boxed[:, :2].max() == 0 and boxed[:, -3:].max() == 0
    assert boxed[:, 3:7, 6:].min() == 255
    squashed = fit_image(image, 10, "squash")
    assert squashed[:, :, :4].max() == 0 and squashed[:, :, 6:].min() == 255


def test_masks_are_nearest_resized_with_ignore_index_intact():
    mask = np.zeros((20, 40), dtype=np.uint8)
    mask[:, 20:] = 1
    mask[0, :] = 255
    for mode in ("crop", "letterbox", "squash"):
        out = fit_mask(mask, 10, mode, fill=255)
        assert set(np.unique(out).tolist()) <= {0, 1, 255}, mode
    boxed = fit_mask(mask, 10, "letterbox", fill=255)
    assert (boxed[:2] == 255).all() and (boxed[-3:] == 255).all()
    assert (boxed[3:7, :5] == 0).all() and (boxed[3:7, 5:] == 1).all()


@pytest.mark.parametrize("mode", ["crop", "letterbox", "squash"])
def test_image_and_mask_keep_the_same_geometry(mode):
    # An odd-sized 37x23 image whose left 17 columns are white; its mask marks the same columns.
    mask = np.zeros((23, 37), dtype=np.uint8)
    mask[:, :17] = 1
    image = Image.fromarray(np.repeat(mask[..., None] * 255, 3, axis=2))
    pixels, labels = fit_image(image, 64, mode)[0], fit_mask(mask, 64, mode, fill=255)
    inside = labels != 255
    agree = (pixels[inside] > 127) == (labels[inside] == 1)
    assert agree.mean() > 0.97  # only the antialiased boundary column may differ


def test_eval_fit_centre_crops_the_cached_square_to_the_training_size():
    images = torch.arange(16.0).reshape(1, 1, 4, 4).expand(1, 3, 4, 4)
    masks = torch.arange(16).reshape(1, 4, 4)
    fitted, fitted_masks = center_fit(images, masks, 2, 0.5)
    assert torch.equal(fitted[0, 0], torch.tensor([[5.0, 6.0], [9.0, 10.0]]))
    assert torch.equal(fitted_masks[0], torch.tensor([[5, 6], [9, 10]]))
    resized, _ = center_fit(torch.rand(2, 3, 256, 256), None, 112, 0.875)  # 224 crop, then resize
    assert resized.shape == (2, 3, 112, 112)
