"""BERG's two image paths: how images become network input in training and at inference.

- **training** (the features stage, on decoded files): the backbone's ``train_transform`` applied
  to the PIL image: the weights' preset (``preset_pil``, bit-identical to torchvision's
  ``ImageClassification`` on PIL), BERG's EEG ViT-B/32 trainer's centre-crop-and-resize
  (``center_crop_resize_pil``), or an open_clip/timm model's own preprocessing (``library_pil``);
- **inference** (``bergforge.BERG.encode``): the preset applied to the user's uint8 batch as a
  tensor, ``preset(torch.from_numpy(images))``, exactly as BERG's loader does
  (``preset_uint8_tensor``: torchvision's antialiased tensor resize, which differs slightly from
  PIL's); library preprocessing only takes PIL images, so those backbones keep ``library_pil``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bergforge.features.crop_resize import CenterCropResize
from bergforge.features.image_path_names import (
    CENTER_CROP_RESIZE_PIL,
    LIBRARY_PIL,
    PRESET_PIL,
    PRESET_UINT8_TENSOR,
    image_transform_record,
    recorded_image_transform,
)
from bergforge.features.registry import CENTER_CROP_RESIZE, BackboneSpec
from bergforge.features.transforms import PresetTransform

if TYPE_CHECKING:
    from bergforge.features.models import Backbone

__all__ = [
    "CENTER_CROP_RESIZE_PIL",
    "LIBRARY_PIL",
    "PRESET_PIL",
    "PRESET_UINT8_TENSOR",
    "image_transform_record",
    "inference_batch",
    "recorded_image_transform",
    "training_transform",
]


def training_transform(spec: BackboneSpec, preset: Any) -> Callable[[Any], torch.Tensor]:
    """The features stage's transform of a torchvision backbone (PIL image → float32 tensor)."""
    if spec.train_transform == CENTER_CROP_RESIZE:
        return CenterCropResize(preset)
    return PresetTransform(preset)


def inference_batch(backbone: Backbone, images: np.ndarray) -> torch.Tensor:
    """Network input ``[batch, 3, h, w]`` float32 of uint8 images ``[batch, 3, H, W]``.

    The preset on the whole batch as one uint8 tensor (BERG's loader); backbones without a
    tensor preset (open_clip/timm) get their own transform on each image as PIL.
    """
    if backbone.inference_transform is not None:
        return backbone.inference_transform(torch.from_numpy(np.ascontiguousarray(images)))
    from PIL import Image

    return torch.stack(
        [backbone.transform(Image.fromarray(image.transpose(1, 2, 0))) for image in images]
    )
