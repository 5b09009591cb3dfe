"""The MLP: ``depth`` × (Linear → GELU → dropout) then a Linear to every target.

Dropout draws its masks from a generator the training loop passes in (seeded per epoch), so an
epoch's masks do not depend on anything run before it: a resumed training draws the same ones.
Parameters are named ``hidden.{i}.weight``/``.bias`` and ``out.weight``/``.bias`` (the weights
file prefixes them with ``mlp.``). The hidden layers (:func:`hidden_layers`, :func:`run_hidden`)
are also the trunk of the ``shared`` kind.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def hidden_layers(n_in: int, hidden: int, depth: int) -> nn.ModuleList:
    """``depth`` Linear layers, ``n_in`` → ``hidden`` → … → ``hidden``."""
    sizes = [n_in] + [hidden] * depth
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def run_hidden(
    layers: nn.ModuleList,
    x: torch.Tensor,
    dropout: float,
    training: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each layer → GELU → (while training) dropout with masks drawn from ``generator``."""
    h = x
    for layer in layers:
        h = functional.gelu(layer(h))
        if training and dropout > 0:
            keep = torch.rand(h.shape, generator=generator, device=h.device) >= dropout
            h = h * keep / (1.0 - dropout)
    return h


class MLP(nn.Module):
    """The network of one ``mlp`` model (inputs and targets standardised outside it)."""

    def __init__(self, n_in: int, n_out: int, hidden: int, depth: int, dropout: float) -> None:
        super().__init__()
        self.hidden = hidden_layers(n_in, hidden, depth)
        self.out = nn.Linear(hidden, n_out)
        self.dropout = float(dropout)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.out(run_hidden(self.hidden, x, self.dropout, self.training, generator))


def build(n_in: int, n_out: int, hidden: int, depth: int, dropout: float, seed: int) -> MLP:
    """The network with PyTorch's default initialisation drawn from ``seed`` (on the CPU, so the
    same on every device; the global random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(n_in, n_out, hidden, depth, dropout)
