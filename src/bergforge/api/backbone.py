"""The image-feature side of a loaded model: the backbone from the extraction registry.

The loader builds the backbone with :func:`bergforge.features.models.build_backbone` from the same
registry and spec as the features stage, and reads the layers with the stage's own
``forward_layers``. Images take BERG's inference path
(:func:`bergforge.features.image_paths.inference_batch`): the weights' preset applied to the uint8
batch as a tensor, as BERG's loader does, while the features stage applied the training path to
PIL images (the two resizes differ slightly; ``research/berg.md`` §2b, §2d).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bergforge.errors import BergforgeError, ModelLoadError


@dataclass
class FeatureExtractor:
    """A built backbone and the device it runs on."""

    backbone: object  # bergforge.features.models.Backbone
    device: str

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Features (batch, n_features) float32 of uint8 images ``[batch, 3, H, W]``."""
        import torch

        from bergforge.features.extract import forward_layers
        from bergforge.features.image_paths import inference_batch

        batch = inference_batch(self.backbone, images)
        layers = forward_layers(self.backbone, batch.to(self.device))
        feats = torch.cat([layers[k] for k in self.backbone.spec.layers], dim=1)
        return feats.to("cpu").numpy().astype(np.float32)


def build_feature_extractor(
    name: str, device: str, recorded: dict[str, Any] | None = None
) -> FeatureExtractor:
    """Build backbone ``name`` as the features stage did; unknown or unavailable: ModelLoadError.

    ``recorded`` is the spec the export stored (``metadata["bergforge"]["backbone"]``: registry
    entry plus the config's overrides such as ``weights`` or ``layers``); models exported without
    one (BERG's own) use the registry entry.
    """
    from bergforge.features.models import build_backbone
    from bergforge.features.registry import SPEC_SETTINGS, get_spec

    overrides = {k: v for k, v in (recorded or {}).items() if k in SPEC_SETTINGS}
    try:
        backbone = build_backbone(get_spec(name, overrides), device)
    except (BergforgeError, KeyError, OSError) as err:
        raise ModelLoadError(f"cannot build backbone {name!r} of this model: {err}") from err
    return FeatureExtractor(backbone, device)
