"""Backbone registry: which network, weights, nodes, transform and seed each backbone name means.

Only what the simulator needs lives here for now (``alexnet_untrained``); the sharded extraction
stage extends the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: BERG's global seed; AlexNet-untrained is built right after ``torch.manual_seed(BERG_SEED)``.
BERG_SEED = 20200220

ALEXNET_NODES: tuple[str, ...] = (
    "features.2",
    "features.5",
    "features.7",
    "features.9",
    "features.12",
    "classifier.2",
    "classifier.5",
    "classifier.6",
)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and which of its nodes to read."""

    name: str
    nodes: tuple[str, ...]
    seed: int


REGISTRY: dict[str, BackboneSpec] = {
    "alexnet_untrained": BackboneSpec("alexnet_untrained", ALEXNET_NODES, BERG_SEED),
}


def get_spec(name: str) -> BackboneSpec:
    """The registry entry of ``name``; an unknown name gets an error listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; known backbones: {sorted(REGISTRY)}") from None


def build_alexnet_untrained(seed: int = BERG_SEED, nodes: Sequence[str] = ALEXNET_NODES):
    """AlexNet with random init drawn right after ``torch.manual_seed(seed)``, as a node extractor."""
    import torch
    from torchvision.models import alexnet
    from torchvision.models.feature_extraction import create_feature_extractor

    torch.manual_seed(seed)
    model = alexnet(weights=None).eval()
    return create_feature_extractor(model, return_nodes=list(nodes)).eval()


def imagenet_transform():
    """AlexNet's ImageNet preset: resize 256, centre-crop 224, rescale, ImageNet normalisation."""
    from torchvision.models import AlexNet_Weights

    return AlexNet_Weights.IMAGENET1K_V1.transforms()


def extract_in_memory(name: str, files: Sequence[Path], batch_size: int = 32) -> np.ndarray:
    """Features (n_images, n_features) float32 of small image sets, all nodes concatenated."""
    import torch
    from PIL import Image

    spec = get_spec(name)
    model = build_alexnet_untrained(spec.seed, spec.nodes)
    transform = imagenet_transform()
    out = []
    with torch.no_grad():
        for start in range(0, len(files), batch_size):
            batch = torch.stack(
                [transform(Image.open(f).convert("RGB")) for f in files[start : start + batch_size]]
            )
            feats = model(batch)
            out.append(torch.cat([feats[n].flatten(1) for n in spec.nodes], dim=1).numpy())
    return np.concatenate(out).astype(np.float32)
