"""The large ViTs of the comparison (CLIP ViT-L/14, DINOv2 ViT-L/14) and multi-layer ViT features.

No weights are downloaded: the registry entries are built with seeded random weights and only
their first blocks run (the feature graph is cut after the last requested node); the default
layer is checked on a model built on the meta device (no memory, no init). Multi-layer features
with ``cls``/``mean`` token aggregation are checked against forward hooks on torchvision's own
ViT, with the aggregation written out here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import pytest
import timm
import torch
from features_data import make_stimuli
from huggingface_hub import constants
from PIL import Image

from bergforge.features.errors import BackboneError, WeightsUnavailableError
from bergforge.features.extract import extract_array
from bergforge.features.models import build_backbone
from bergforge.features.registry import BERG_SEED, get_spec

LARGE = {
    "clip_vit_l_14": ("transformer.resblocks", "vit_large_patch14_clip_224.openai"),
    "dinov2_vitl14": ("blocks", "vit_large_patch14_dinov2.lvd142m"),
}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("large_vit_images")
    table = pd.read_csv(make_stimuli(root, 2, size=64), sep="\t")
    return [root / f for f in table["file"]]


def meta_model(name: str) -> torch.nn.Module:
    """The registry entry's architecture on the meta device (shapes only, nothing allocated)."""
    spec = get_spec(name)
    with torch.device("meta"):
        if spec.library == "open_clip":
            return open_clip.create_model(spec.model, pretrained=None, device="meta").visual
        return timm.create_model(spec.model, pretrained=False)


@pytest.mark.parametrize("name", sorted(LARGE))
def test_large_vit_entries_read_the_last_of_24_blocks_offline_only(name, tmp_path, monkeypatch):
    prefix, repo = LARGE[name]
    spec = get_spec(name)
    assert spec.layers == (f"{prefix}.23",) and spec.token_aggregation == "cls"
    modules = dict(meta_model(name).named_modules())
    assert f"{prefix}.23" in modules and f"{prefix}.24" not in modules

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(WeightsUnavailableError, match=f"timm/{repo}/"):
        build_backbone(spec)  # the pretrained weights are looked up in the local cache only


@pytest.mark.parametrize("name", sorted(LARGE))
def test_large_vits_build_with_seeded_random_weights(name, images, one_torch_thread):
    prefix, _ = LARGE[name]
    layers = [f"{prefix}.0", f"{prefix}.1"]  # the graph ends after block 1: fast on CPU
    spec = get_spec(name, {"weights": "none", "seed": 5, "layers": layers})
    backbone = build_backbone(spec)
    assert backbone.weights_identity == {"kind": "random_init", "seed": 5}
    features = extract_array(backbone, images, 2, 1)
    assert features.shape == (2, 2 * 1024)  # the cls token of each block, concatenated
    assert np.isfinite(features).all() and not np.array_equal(
        features[:, :1024], features[:, 1024:]
    )


#: ViT layers 4, 8 and 12 (counting from 1) of torchvision's ViT-B/32, as in the README example
VIT_LAYERS = [f"encoder.layers.encoder_layer_{i}" for i in (3, 7, 11)]


@pytest.mark.parametrize("mode", ["cls", "mean"])
def test_vit_layers_4_8_12_concatenated_equal_hooks_on_the_library_model(
    mode, images, one_torch_thread
):
    from torchvision.models import ViT_B_32_Weights, vit_b_32

    spec = get_spec(
        "vit_b_32", {"weights": "none", "layers": VIT_LAYERS, "token_aggregation": mode}
    )
    ours = extract_array(build_backbone(spec), images, 2, 1)

    torch.manual_seed(BERG_SEED)  # the registry's seeded init, done here by hand
    model = vit_b_32(weights=None).eval()
    outputs: dict[int, torch.Tensor] = {}
    for i in (3, 7, 11):
        model.encoder.layers[i].register_forward_hook(
            lambda _m, _in, out, i=i: outputs.__setitem__(i, out.detach())
        )
    preset = ViT_B_32_Weights.IMAGENET1K_V1.transforms()
    with Image.open(images[0]) as a, Image.open(images[1]) as b:
        batch = torch.stack([preset(im.convert("RGB")) for im in (a, b)])
    with torch.inference_mode():
        model(batch)
    tokens = [outputs[i].numpy() for i in (3, 7, 11)]  # [image, 50 tokens, 768]
    assert all(t.shape == (2, 50, 768) for t in tokens)
    parts = [t[:, 0, :] if mode == "cls" else t.mean(axis=1) for t in tokens]
    expected = np.concatenate(parts, axis=1)
    assert ours.shape == (2, 3 * 768)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_dinov2_giant_reads_block_26_of_40_offline_only(tmp_path, monkeypatch):
    """The decoding target: block index 25 of 40 (HF hidden_states[26]), mean over all tokens,
    224-px input; checked on the architecture built on the meta device (no 4.5 GB of weights)."""
    spec = get_spec("dinov2_giant")
    assert spec.layers == ("blocks.25",) and spec.token_aggregation == "mean"
    assert spec.image_size == 224 and spec.model == "vit_giant_patch14_dinov2.lvd142m"
    with torch.device("meta"):
        model = timm.create_model(spec.model, pretrained=False, img_size=224)
    assert len(model.blocks) == 40 and model.embed_dim == 1536
    assert model.patch_embed.grid_size == (16, 16) and model.pos_embed.shape[1] == 257
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(WeightsUnavailableError, match="timm/vit_giant_patch14_dinov2.lvd142m/"):
        build_backbone(spec)


def test_an_image_size_gives_the_hf_processor_route_and_the_mean_of_all_tokens(
    images, one_torch_thread
):
    """dinov2_giant's settings on a small DINOv2 (seeded random weights): the transform is
    Resize(256, bicubic) → CenterCrop(224) → ImageNet normalisation, written out here, and the
    feature is the mean of block 2's 257 tokens (CLS included), from hooks on timm's own model."""
    from torchvision import transforms as tv

    small = {"model": "vit_small_patch14_dinov2.lvd142m", "weights": "none", "layers": ["blocks.2"]}
    backbone = build_backbone(get_spec("dinov2_giant", small))
    reference = tv.Compose(
        [
            tv.Resize(256, interpolation=tv.InterpolationMode.BICUBIC),
            tv.CenterCrop(224),
            tv.ToTensor(),
            tv.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    with Image.open(images[0]) as im:
        rgb = im.convert("RGB").resize((96, 64))  # not square: the shorter side goes to 256
    np.testing.assert_allclose(backbone.transform(rgb), reference(rgb), atol=1e-6)
    ours = extract_array(backbone, images, 2, 1)

    torch.manual_seed(BERG_SEED)
    model = timm.create_model(small["model"], pretrained=False, img_size=224).eval()
    seen = {}
    model.blocks[2].register_forward_hook(lambda _m, _in, out: seen.__setitem__("x", out))
    with Image.open(images[0]) as a, Image.open(images[1]) as b:
        batch = torch.stack([reference(im.convert("RGB")) for im in (a, b)])
    with torch.inference_mode():
        model(batch)
    assert seen["x"].shape == (2, 257, 384)
    np.testing.assert_allclose(ours, seen["x"].mean(dim=1).numpy(), rtol=1e-5, atol=1e-5)


def test_image_size_is_recorded_only_when_set_and_only_for_timm():
    assert "image_size" not in get_spec("vit_b_32").as_dict()  # recorded specs keep their bytes
    assert get_spec("dinov2_giant").as_dict()["image_size"] == 224
    with pytest.raises(BackboneError, match="image_size 224; expected a size ≥ 16 for a timm"):
        get_spec("vit_b_32", {"image_size": 224})
