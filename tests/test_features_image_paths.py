"""BERG's two image paths: the features stage's training transform (PIL) and the loader's inference
transform (the preset on the uint8 tensor), each compared with torchvision itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms
from torchvision.models import get_weight

from bergforge.features.errors import BackboneError
from bergforge.features.image_paths import (
    image_transform_record,
    inference_batch,
    recorded_image_transform,
)
from bergforge.features.models import build_backbone
from bergforge.features.registry import REGISTRY, get_spec

#: the registry's torchvision backbones, built with random weights (no hub cache needed)
TORCHVISION = [n for n, s in REGISTRY.items() if s.library == "torchvision"]
SIZES = [(500, 500), (425, 425), (640, 480), (333, 777), (100, 80), (64, 64)]


def _noise(width: int, height: int, seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _batch(n: int, side: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, side, side), dtype=np.uint8)


@pytest.fixture(scope="module")
def backbones() -> dict:
    return {n: build_backbone(get_spec(n, {"weights": "none"})) for n in TORCHVISION}


@pytest.mark.parametrize("name", TORCHVISION)
def test_features_stage_applies_the_preset_to_pil_images(name, backbones):
    backbone = backbones[name]
    preset = get_weight(REGISTRY[name].transform).transforms()
    for k, size in enumerate(SIZES):
        image = _noise(*size, seed=k)
        assert torch.equal(backbone.transform(image), preset(image)), (name, size)
    assert image_transform_record(backbone.spec) == {
        "train": "preset_pil",
        "inference": "preset_uint8_tensor",
    }


@pytest.mark.parametrize("name", TORCHVISION)
def test_inference_path_is_the_preset_on_the_uint8_tensor(name, backbones):
    backbone = backbones[name]
    preset = get_weight(REGISTRY[name].transform).transforms()
    for side in (64, 300, 500):  # upsampled, and downsampled (antialias matters)
        images = _batch(3, side, seed=side)
        got = inference_batch(backbone, images)
        assert torch.equal(got, preset(torch.from_numpy(images))), (name, side)
        one_by_one = torch.stack([preset(torch.from_numpy(im)) for im in images])
        assert torch.equal(got, one_by_one), (name, side)
    pil = torch.stack([preset(Image.fromarray(im.transpose(1, 2, 0))) for im in images])
    assert not torch.equal(got, pil), "the tensor path resizes differently from PIL"


def test_center_crop_resize_is_bergs_eeg_vit_training_transform():
    spec = get_spec("vit_b_32", {"weights": "none", "train_transform": "center_crop_resize"})
    backbone = build_backbone(spec)
    preset = get_weight("ViT_B_32_Weights.IMAGENET1K_V1").transforms()
    for k, size in enumerate(SIZES):
        image = _noise(*size, seed=k)
        expected = transforms.Compose(
            [
                transforms.CenterCrop(min(image.size)),
                transforms.Resize((224, 224)),
                transforms.ToTensor(),
                transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
            ]
        )(image)
        assert torch.equal(backbone.transform(image), expected), size
    assert not torch.equal(backbone.transform(_noise(640, 480, 0)), preset(_noise(640, 480, 0)))
    images = _batch(2, 300)
    assert torch.equal(inference_batch(backbone, images), preset(torch.from_numpy(images)))
    record = {"train": "center_crop_resize_pil", "inference": "preset_uint8_tensor"}
    assert image_transform_record(spec) == record
    assert spec.as_dict()["train_transform"] == "center_crop_resize"
    assert recorded_image_transform(spec.as_dict()) == record


def test_default_specs_record_no_train_transform_and_bad_values_are_named():
    assert "train_transform" not in get_spec("alexnet_untrained").as_dict()
    assert recorded_image_transform(get_spec("alexnet_untrained").as_dict())["train"] == (
        "preset_pil"
    )
    assert image_transform_record(get_spec("clip_vit_b_32")) == {
        "train": "library_pil",
        "inference": "library_pil",
    }
    with pytest.raises(BackboneError, match="train_transform 'crop'; expected one of"):
        get_spec("alexnet", {"train_transform": "crop"})
    with pytest.raises(BackboneError, match="takes its size, mean and std from a torchvision"):
        get_spec("clip_vit_b_32", {"train_transform": "center_crop_resize"})
