"""Backbone registry: feature counts, BERG's seeded init, offline-only weights and clear errors."""

from __future__ import annotations

import shutil

import pytest
import torch

from bergforge.features.errors import (
    BackboneError,
    UnknownBackboneError,
    WeightsUnavailableError,
)
from bergforge.features.extract import layer_sizes
from bergforge.features.models import build_backbone
from bergforge.features.registry import BERG_SEED, configured_backbones, get_spec

#: A small torchvision model (5 MB of weights) to exercise pretrained-weight loading offline.
SMALL = {
    "library": "torchvision",
    "model": "squeezenet1_1",
    "layers": ["features.3", "features.12"],
    "transform": "SqueezeNet1_1_Weights.IMAGENET1K_V1",
}


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache, so no pretrained weights are available offline.

    Through TORCH_HOME, not ``torch.hub.set_dir``: restoring with set_dir would pin the hub for
    the rest of the session and hide TORCH_HOME from later tests.
    """
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert torch.hub.get_dir() == str(tmp_path / "hub")
    return tmp_path / "hub"


def test_alexnet_untrained_has_bergs_init_and_205672_features():
    backbone = build_backbone(get_spec("alexnet_untrained"))
    sizes = layer_sizes(backbone)
    assert list(sizes) == list(get_spec("alexnet_untrained").nodes)
    assert sum(sizes.values()) == 205_672
    assert sizes["features.2"] == 46_656 and sizes["classifier.6"] == 1000
    weight = dict(backbone.module.named_parameters())["features.0.weight"][0, 0, 0, :3]
    expected = torch.tensor([0.016887579, 0.030492883, -0.016514238])
    torch.testing.assert_close(weight.detach(), expected, rtol=0, atol=1e-8)
    assert backbone.weights_identity == {"kind": "random_init", "seed": BERG_SEED}


def test_vit_b_32_reads_all_50_tokens_of_12_layers():
    backbone = build_backbone(get_spec("vit_b_32", {"weights": "none"}))
    sizes = layer_sizes(backbone)
    assert list(sizes) == [f"encoder.layers.encoder_layer_{i}" for i in range(12)]
    assert set(sizes.values()) == {50 * 768}
    assert sum(sizes.values()) == 460_800


@pytest.mark.parametrize("mode", ["cls", "mean"])
def test_token_aggregation_keeps_one_token_per_layer(mode):
    layers = ["encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_11"]
    spec = get_spec("vit_b_32", {"weights": "none", "layers": layers, "token_aggregation": mode})
    assert layer_sizes(build_backbone(spec)) == dict.fromkeys(layers, 768)


def test_layers_select_several_nodes_of_resnet50():
    spec = get_spec("resnet50", {"weights": "none", "layers": ["layer4", "avgpool", "fc"]})
    assert layer_sizes(build_backbone(spec)) == {
        "layer4": 2048 * 7 * 7,
        "avgpool": 2048,
        "fc": 1000,
    }


def test_unknown_backbone_is_named():
    with pytest.raises(UnknownBackboneError, match="unknown backbone 'vgg_untrained'"):
        get_spec("vgg_untrained")
    with pytest.raises(KeyError):  # the loader of the berg stage catches KeyError
        get_spec("vgg_untrained")


def test_unknown_node_is_named():
    spec = get_spec("alexnet_untrained", {"layers": ["features.2", "features.99"]})
    with pytest.raises(BackboneError, match="unknown node 'features.99'"):
        build_backbone(spec)


def test_unknown_setting_model_and_transform_are_named():
    with pytest.raises(BackboneError, match=r"unknown setting\(s\) \['nodes'\]"):
        get_spec("alexnet_untrained", {"nodes": ["features.2"]})
    with pytest.raises(BackboneError, match="'alexnet_v9' is not a torchvision model"):
        build_backbone(
            get_spec("mine", {"library": "torchvision", "model": "alexnet_v9", "layers": ["x"]})
        )
    spec = get_spec("alexnet_untrained", {"transform": "Nope_Weights.V1"})
    with pytest.raises(BackboneError, match="unknown transform 'Nope_Weights.V1'"):
        build_backbone(spec)


@pytest.mark.parametrize("name", ["alexnet", "vit_b_32", "resnet50"])
def test_pretrained_weights_missing_offline_are_named(name, empty_hub):
    with pytest.raises(WeightsUnavailableError, match="not available offline") as info:
        build_backbone(get_spec(name))
    assert str(empty_hub / "checkpoints") in str(info.value)
    assert f"backbones.{name}.weights" in str(info.value)


def test_configured_weights_file_missing_is_named(tmp_path):
    missing = tmp_path / "vit.pth"
    with pytest.raises(WeightsUnavailableError, match="vit.pth' not found"):
        build_backbone(get_spec("vit_b_32", {"weights": str(missing)}))


def test_pretrained_weights_load_from_the_local_cache_and_from_a_file(empty_hub, tmp_path):
    from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

    state = squeezenet1_1(weights=None).state_dict()
    cached = empty_hub / "checkpoints" / SqueezeNet1_1_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    from_cache = build_backbone(get_spec("small", {**SMALL, "weights": "IMAGENET1K_V1"}))
    assert from_cache.weights_identity["kind"] == "torchvision"
    assert from_cache.weights_identity["file"] == cached.name
    loaded = dict(from_cache.module.named_parameters())["features.0.weight"]
    torch.testing.assert_close(loaded.detach(), state["features.0.weight"], rtol=0, atol=0)

    own = tmp_path / "own.pth"
    shutil.copyfile(cached, own)
    from_file = build_backbone(get_spec("small", {**SMALL, "weights": str(own)}))
    assert from_file.weights_identity["sha256"] == from_cache.weights_identity["sha256"]


def test_config_section_resolves_overrides():
    config = {
        "backbones": {
            "alexnet_untrained": {},
            "vit_b_32": {"weights": "none", "seed": 1, "datasets": ["a"]},
        }
    }
    specs = configured_backbones(config)
    assert specs["alexnet_untrained"] == get_spec("alexnet_untrained")
    assert specs["vit_b_32"].weights == "none" and specs["vit_b_32"].seed == 1
    assert specs["vit_b_32"].datasets == ("a",)
