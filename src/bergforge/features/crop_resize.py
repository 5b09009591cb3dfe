"""BERG's EEG ViT-B/32 training transform: CenterCrop(min side) → Resize((S, S)) → normalise.

BERG's trainer for ``eeg-things_eeg_2-vit_b_32`` preprocessed each PIL image with
``CenterCrop(min(img.size))``, ``Resize((224, 224))``, ``ToTensor()`` and ImageNet normalisation
(``research/berg.md`` §2d), not with the weights' preset its API uses. :class:`CenterCropResize`
gives the same float32 tensor with PIL crops and resizes only (bilinear, as ``Resize`` on PIL) and
the preset's per-channel lookup table for ``ToTensor`` + ``Normalize``; the square size, mean and
std come from the torchvision preset the backbone names.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from bergforge.features.transforms import normalisation_table, normalise


class CenterCropResize:
    """Centre-crop a PIL image to its shorter side, resize it to the preset's crop, normalise."""

    def __init__(self, preset: Any) -> None:
        crop = list(preset.crop_size)
        self.size = (crop[0], crop[-1])  # (height, width), as torchvision's Resize takes it
        self.mean, self.std = list(preset.mean), list(preset.std)
        self.table = normalisation_table(self.mean, self.std)

    def crop(self, image: Image.Image) -> Image.Image:
        """The centre square of ``image``, resized to :attr:`size` (bilinear)."""
        import torchvision.transforms.functional as tvf
        from torchvision.transforms import InterpolationMode

        square = tvf.center_crop(image, [min(image.size)] * 2)
        return tvf.resize(square, list(self.size), interpolation=InterpolationMode.BILINEAR)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return normalise(self.crop(image), self.table)

    def __repr__(self) -> str:
        return (
            f"CenterCropResize(center_crop=min(image.size), resize={list(self.size)}, "
            f"interpolation=bilinear, mean={self.mean}, std={self.std})"
        )
