"""Backbones by name: the registry plus small helpers for in-memory use (simulator, loader).

The registry itself lives in :mod:`bergforge.features.registry`, model building in
:mod:`bergforge.features.models`; this module keeps the simple entry points other stages call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.features.extract import extract_array, layer_sizes
from bergforge.features.models import build_backbone
from bergforge.features.registry import (
    ALEXNET_NODES,
    BERG_SEED,
    NO_WEIGHTS,
    REGISTRY,
    SPEC_SETTINGS,
    VIT_B_32_NODES,
    BackboneSpec,
    get_spec,
)

__all__ = [
    "ALEXNET_NODES",
    "BERG_SEED",
    "REGISTRY",
    "VIT_B_32_NODES",
    "BackboneSpec",
    "build_alexnet_untrained",
    "build_extractor",
    "extract_in_memory",
    "feature_count",
    "get_spec",
    "imagenet_transform",
]


def build_extractor(name: str, overrides: dict[str, Any] | None = None, device: str = "cpu"):
    """``(node extractor, transform)`` of backbone ``name`` (weights from local files only)."""
    backbone = build_backbone(get_spec(name, overrides), device)
    return backbone.module, backbone.transform


def build_alexnet_untrained(seed: int = BERG_SEED, nodes: Sequence[str] = ALEXNET_NODES):
    """AlexNet with random init drawn right after ``torch.manual_seed(seed)``, as a node extractor."""
    spec = get_spec("alexnet_untrained", {"seed": seed, "layers": list(nodes)})
    return build_backbone(spec).module


def imagenet_transform():
    """AlexNet's ImageNet preset: resize 256, centre-crop 224, rescale, ImageNet normalisation."""
    from torchvision.models import AlexNet_Weights

    return AlexNet_Weights.IMAGENET1K_V1.transforms()


def extract_in_memory(
    name: str,
    files: Sequence[Path],
    batch_size: int = 32,
    overrides: dict[str, Any] | None = None,
) -> np.ndarray:
    """Features (n_images, n_features) float32 of small image sets, all layers concatenated
    (``overrides``: the config's entry of the backbone, as ``get_spec`` takes it)."""
    backbone = build_backbone(get_spec(name, overrides))
    return extract_array(backbone, [Path(f) for f in files], batch_size, workers=2)


def feature_count(name: str, recorded: dict[str, Any] | None = None) -> int:
    """Features per image of backbone ``name`` (with a recorded spec's overrides): a dry pass of
    the same architecture with random weights, so no pretrained weights are needed."""
    overrides = {k: v for k, v in (recorded or {}).items() if k in SPEC_SETTINGS}
    spec = get_spec(name, {**overrides, "weights": NO_WEIGHTS})
    return int(sum(layer_sizes(build_backbone(spec)).values()))
