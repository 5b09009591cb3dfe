"""Factorized spatial × feature linear readout (one weight map and one feature vector per vertex)."""

from __future__ import annotations

import torch
from torch import nn


class SpatialXFeatureLinear(nn.Module):
    """y[n, o] = Σ_c Σ_hw x[n, c, h, w] · ŝ[o, h, w] · f[o, c] + b[o], ŝ L2-normalised over (h, w)."""

    def __init__(
        self, channels: int, height: int, width: int, n_outputs: int, init_std: float = 1e-3
    ) -> None:
        super().__init__()
        self.spatial = nn.Parameter(torch.randn(n_outputs, height, width) * init_std)
        self.features = nn.Parameter(torch.randn(n_outputs, channels) * init_std)
        self.bias = nn.Parameter(torch.zeros(n_outputs))
        self.chunk = 4096  # outputs per step, bounds the (batch, channels, outputs) intermediate

    def normalized_spatial(self) -> torch.Tensor:
        """(O, H·W) spatial maps divided by their L2 norm + 1e-6 (as MOSAIC's readout)."""
        s = self.spatial.flatten(1)
        return s / (s.norm(dim=1, keepdim=True) + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)  # (N, C, HW)
        spatial = self.normalized_spatial()
        outs = []
        for start in range(0, spatial.shape[0], self.chunk):
            s = spatial[start : start + self.chunk]
            pooled = flat @ s.T  # (N, C, O)
            outs.append((pooled * self.features[start : start + self.chunk].T).sum(1))
        return torch.cat(outs, dim=1) + self.bias

    def regularizer(self) -> torch.Tensor:
        """Σ_o ‖ŝ_o‖₁ · ‖f_o‖₁."""
        return (self.normalized_spatial().abs().sum(1) * self.features.abs().sum(1)).sum()
