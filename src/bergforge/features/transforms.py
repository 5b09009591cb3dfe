"""Image transforms: torchvision's ImageNet presets, applied to PIL images without torch threads.

:class:`PresetTransform` gives bit-identical tensors to ``ImageClassification(pil_image)`` (PIL
resize and centre crop, then rescale and normalise in float32), but does the per-pixel arithmetic in
NumPy: torch element-wise ops on small tensors, called from several decode threads at once, contend
for torch's intra-op thread pool and run many times slower than the forward pass they feed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image


class PresetTransform:
    """A torchvision ``ImageClassification`` preset, evaluated on PIL images with NumPy arithmetic."""

    def __init__(self, preset: Any) -> None:
        self.preset = preset
        self.mean = np.asarray(preset.mean, dtype=np.float32)[:, None, None]
        self.std = np.asarray(preset.std, dtype=np.float32)[:, None, None]

    def __call__(self, image: Image.Image) -> torch.Tensor:
        import torchvision.transforms.functional as tvf

        if not isinstance(image, Image.Image):
            return self.preset(image)
        p = self.preset
        image = tvf.resize(
            image, p.resize_size, interpolation=p.interpolation, antialias=p.antialias
        )
        image = tvf.center_crop(image, p.crop_size)
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1).copy()
        pixels /= np.float32(255)
        pixels -= self.mean
        pixels /= self.std
        return torch.from_numpy(pixels)

    def __repr__(self) -> str:
        return repr(self.preset)


def wrap_preset(transform: Any) -> Any:
    """``transform`` as a :class:`PresetTransform` when it is an ImageNet preset, else unchanged."""
    from torchvision.transforms._presets import ImageClassification

    return PresetTransform(transform) if isinstance(transform, ImageClassification) else transform
