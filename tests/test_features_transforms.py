"""The fast ImageNet preset transform is bit-identical to torchvision's, whatever the image size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import get_weight
from torchvision.transforms import functional as tvf

from bergforge.features.transforms import PresetTransform, crop_box, normalisation_table

PRESETS = [
    "AlexNet_Weights.IMAGENET1K_V1",  # resize 256, crop 224, bilinear
    "ResNet50_Weights.IMAGENET1K_V2",  # resize 232, crop 224
    "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1",  # resize 384, crop 384, bicubic
]
SIZES = [
    (500, 500),  # THINGS-EEG2
    (425, 425),  # NSD
    (800, 800),
    (224, 224),  # no resize at all
    (100, 80),  # upsampling
    (640, 480),
    (480, 640),
    (750, 500),
    (260, 520),  # portrait: Pillow 13 may resample a box vertically first
    (333, 777),
]


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("preset", PRESETS)
def test_fast_transform_equals_torchvision_on_every_size(preset):
    reference = get_weight(preset).transforms()
    fast = PresetTransform(reference)
    for k, (width, height) in enumerate(SIZES):
        image = _noise(width, height, seed=k)
        assert torch.equal(fast(image), reference(image)), (preset, width, height)


def test_square_images_take_the_one_step_resize_and_inexact_boxes_do_not():
    fast = PresetTransform(get_weight("AlexNet_Weights.IMAGENET1K_V1").transforms())
    for size in [(500, 500), (425, 425), (800, 800)]:
        assert fast.plan(size) is not None, size
    # 640 px → 341 px: the box centres are not exact binary fractions, so PIL could round them
    # differently from the full resize; that size keeps torchvision's two steps
    assert crop_box(640, 480, 256, (224, 224)) is None
    assert fast.plan((640, 480)) is None


def test_a_box_that_disagrees_on_the_probe_image_is_not_used(monkeypatch):
    fast = PresetTransform(get_weight("AlexNet_Weights.IMAGENET1K_V1").transforms())
    honest = fast.reference_crop
    monkeypatch.setattr(fast, "reference_crop", lambda image: honest(image).rotate(180))
    assert fast.plan((500, 500)) is None
    assert fast.plans == {(500, 500): None}


def test_normalisation_table_equals_to_tensor_and_normalize():
    preset = get_weight("AlexNet_Weights.IMAGENET1K_V1").transforms()
    table = normalisation_table(preset.mean, preset.std)
    values = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16).repeat(3, 1, 1)
    expected = tvf.normalize(
        tvf.convert_image_dtype(values, torch.float32), preset.mean, preset.std
    )
    got = torch.from_numpy(np.stack([table[c][values[c].numpy()] for c in range(3)]))
    assert torch.equal(got, expected)
