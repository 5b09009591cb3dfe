"""The CNN8 input transform (MOSAIC inference): centre square crop, resize, ImageNet normalisation."""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_model_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """(n, 3, size, size) float32 from uint8 (n, 3, H, W) images: cropped, resized, normalised."""
    x = images.float() / 255.0
    side = min(x.shape[2:])
    top, left = (x.shape[2] - side) // 2, (x.shape[3] - side) // 2
    x = x[:, :, top : top + side, left : left + side]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std
