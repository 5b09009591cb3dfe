"""timm and open_clip backbones: seeded, from a local file or from the Hugging Face cache, never
the network; features equal those of the same model built directly with the library."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import pytest
import timm
import torch
from features_data import make_stimuli
from huggingface_hub import constants
from torchvision.models.feature_extraction import create_feature_extractor

from bergforge.features.errors import BackboneError, MissingPackageError, WeightsUnavailableError
from bergforge.features.extract import aggregate_tokens, extract_array
from bergforge.features.images import load_rgb
from bergforge.features.models import build_backbone
from bergforge.features.registry import get_spec

DINO = "vit_small_patch14_dinov2.lvd142m"
DINO_LAYERS = ["blocks.0", "blocks.1"]  # the graph is cut after the last one: fast on CPU
CLIP_LAYERS = ["transformer.resblocks.0", "transformer.resblocks.1"]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("library_images")
    table = pd.read_csv(make_stimuli(root, 2, size=96), sep="\t")
    return [root / f for f in table["file"]]


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hf-hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def put_in_cache(cache: Path, repo: str, filename: str, source: Path) -> Path:
    """Lay ``source`` out as the hub cache does: refs/main → snapshots/<commit>/<filename>."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    target = folder / "snapshots" / commit / filename
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes())
    return target


def direct_features(model, transform, layers, mode, images) -> np.ndarray:
    """The reference: the library's own model, torchvision's node extractor, no bergforge code."""
    extractor = create_feature_extractor(model.eval(), return_nodes=layers).eval()
    batch = torch.stack([transform(load_rgb(f)) for f in images])
    with torch.inference_mode():
        out = extractor(batch)
    return np.concatenate(
        [aggregate_tokens(out[k], mode).flatten(1).numpy() for k in layers], axis=1
    )


def test_timm_from_file_and_from_cache_equal_the_library_model(images, tmp_path, hf_cache):
    torch.manual_seed(7)
    model = timm.create_model(DINO, pretrained=False)
    from safetensors.torch import save_file

    weights = tmp_path / "dinov2.safetensors"
    save_file(model.state_dict(), str(weights))
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    expected = direct_features(model, transform, DINO_LAYERS, "mean", images)
    assert expected.shape == (2, 2 * 384)

    settings = {"layers": DINO_LAYERS, "token_aggregation": "mean"}
    from_file = build_backbone(get_spec("dinov2_vits14", {**settings, "weights": str(weights)}))
    assert from_file.weights_identity["kind"] == "file"
    np.testing.assert_array_equal(extract_array(from_file, images, 2, 1), expected)

    with pytest.raises(WeightsUnavailableError, match=f"timm/{DINO}/model.safetensors"):
        build_backbone(get_spec("dinov2_vits14", settings))
    put_in_cache(hf_cache, f"timm/{DINO}", "model.safetensors", weights)
    from_cache = build_backbone(get_spec("dinov2_vits14", settings))
    assert from_cache.weights_identity["kind"] == "hf_cache"
    assert from_cache.weights_identity["sha256"] == from_file.weights_identity["sha256"]
    np.testing.assert_array_equal(extract_array(from_cache, images, 2, 1), expected)


def test_open_clip_tag_from_cache_uses_the_tag_settings(images, tmp_path, hf_cache):
    torch.manual_seed(11)
    model, _, _ = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    weights = tmp_path / "clip.bin"
    torch.save(model.state_dict(), weights)
    settings = {"layers": CLIP_LAYERS, "token_aggregation": "cls"}

    plain, _, transform = open_clip.create_model_and_transforms("ViT-B-32", pretrained=str(weights))
    from_file = build_backbone(get_spec("clip_vit_b_32", {**settings, "weights": str(weights)}))
    expected = direct_features(plain.visual, transform, CLIP_LAYERS, "cls", images)
    assert expected.shape == (2, 2 * 768)
    np.testing.assert_array_equal(extract_array(from_file, images, 2, 1), expected)

    # the `openai` tag means QuickGELU: same weights, other activations, other features
    put_in_cache(
        hf_cache, "timm/vit_base_patch32_clip_224.openai", "open_clip_pytorch_model.bin", weights
    )
    quick, _, transform = open_clip.create_model_and_transforms(
        "ViT-B-32", pretrained=str(weights), force_quick_gelu=True
    )
    from_cache = build_backbone(get_spec("clip_vit_b_32", settings))
    assert from_cache.weights_identity["kind"] == "hf_cache"
    assert from_cache.weights_identity["tag"] == "openai"
    cached = extract_array(from_cache, images, 2, 1)
    np.testing.assert_array_equal(
        cached, direct_features(quick.visual, transform, CLIP_LAYERS, "cls", images)
    )
    assert not np.array_equal(cached, expected)


def test_library_weights_errors_name_what_was_expected(hf_cache):
    with pytest.raises(WeightsUnavailableError, match=r"'no_such_tag' is not a pretrained tag"):
        build_backbone(get_spec("clip_vit_b_32", {"weights": "no_such_tag"}))
    with pytest.raises(WeightsUnavailableError, match="vit_base_patch32_clip_224.openai"):
        build_backbone(get_spec("clip_vit_b_32"))
    with pytest.raises(BackboneError, match=r"weights 'IMAGENET1K_V1'; expected a local file"):
        build_backbone(get_spec("dinov2_vits14", {"weights": "IMAGENET1K_V1"}))


def test_seeded_library_backbones_are_reproducible(images):
    settings = {"weights": "none", "layers": CLIP_LAYERS[:1], "seed": 3}
    first = extract_array(build_backbone(get_spec("clip_vit_b_32", settings)), images, 2, 1)
    again = extract_array(build_backbone(get_spec("clip_vit_b_32", settings)), images, 2, 1)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (2, 768)  # the registry entry reads the cls token


@pytest.mark.parametrize(
    ("name", "package"), [("clip_vit_b_32", "open_clip_torch"), ("dinov2_vits14", "timm")]
)
def test_a_missing_library_names_the_package_to_install(name, package, monkeypatch):
    monkeypatch.setitem(sys.modules, get_spec(name).library, None)
    with pytest.raises(MissingPackageError, match=f"pip install {package}"):
        build_backbone(get_spec(name))
