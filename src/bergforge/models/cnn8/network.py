"""The MOSAIC CNN8 core and the multi-head encoder (one readout per subject).

Core: 8 blocks of Conv (bias-free) → BatchNorm → ReLU with ``width`` channels; conv1 5×5 pad 1,
conv2 5×5 pad 2, conv3–8 3×3 pad 1; 2×2 average pooling (stride 2) after blocks 2, 4 and 6 and a
2×2 stride-1 average pooling after block 8. At width 384 and 224 px the output is 384×26×26.
"""

from __future__ import annotations

import torch
from torch import nn

from bergforge.errors import DataError
from bergforge.models.cnn8.readout import SpatialXFeatureLinear
from bergforge.models.cnn8.shapes import KERNELS as _KERNELS
from bergforge.models.cnn8.shapes import POOL_AFTER as _POOL_AFTER
from bergforge.models.cnn8.shapes import core_output_size


class CNN8Core(nn.Module):
    """Eight conv-BN-ReLU blocks with average pooling; ``width`` channels throughout."""

    def __init__(self, width: int = 384, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for block, (kernel, pad) in enumerate(_KERNELS, start=1):
            layers += [
                nn.Conv2d(channels, width, kernel, padding=pad, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            if block in _POOL_AFTER:
                layers.append(nn.AvgPool2d(2, 2))
            channels = width
        layers.append(nn.AvgPool2d(2, stride=1))
        self.features = nn.Sequential(*layers)
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class MultiHeadEncoder(nn.Module):
    """Shared CNN8 core and one factorized readout per subject, keyed like ``sub-01_NSD``."""

    def __init__(self, n_vertices: dict[str, int], width: int = 384, input_size: int = 224) -> None:
        super().__init__()
        side = core_output_size(input_size)
        self.input_size = input_size
        self.core = CNN8Core(width)
        self.readouts = nn.ModuleDict(
            {name: SpatialXFeatureLinear(width, side, side, n) for name, n in n_vertices.items()}
        )

    def forward(self, x: torch.Tensor, subject: str) -> torch.Tensor:
        """(B, n_vertices of ``subject``) predictions for images (B, 3, H, W)."""
        if subject not in self.readouts:
            raise DataError(
                f"unknown subject head {subject!r}; expected one of {sorted(self.readouts)}"
            )
        return self.readouts[subject](self.core(x))

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predictions of every head for the same images (one core pass)."""
        feats = self.core(x)
        return {name: head(feats) for name, head in self.readouts.items()}
