"""The ``shared`` network: the ``mlp`` kind's hidden layers as a trunk, one Linear per subject.

Parameters: ``hidden.{i}.weight``/``.bias`` (the trunk, as :class:`bergforge.models.mlp.network.MLP`
names them) and ``adapters.{j}.weight``/``.bias`` for the j-th subject (in the order given).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bergforge.models.mlp.network import hidden_layers, run_hidden


class SharedNet(nn.Module):
    """A trunk (``depth`` × Linear → GELU → dropout) and a linear adapter per subject."""

    def __init__(
        self, n_in: int, n_outs: Sequence[int], hidden: int, depth: int, dropout: float
    ) -> None:
        super().__init__()
        self.hidden = hidden_layers(n_in, hidden, depth)
        self.adapters = nn.ModuleList(nn.Linear(hidden, int(n)) for n in n_outs)
        self.dropout = float(dropout)

    def trunk(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The trunk's last hidden layer (dropout while training, masks from ``generator``)."""
        return run_hidden(self.hidden, x, self.dropout, self.training, generator)

    def forward(
        self, x: torch.Tensor, subject: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Responses of the ``subject``-th subject (its position in the adapters)."""
        return self.adapters[subject](self.trunk(x, generator))


def build_shared(
    n_in: int, n_outs: Sequence[int], hidden: int, depth: int, dropout: float, seed: int
) -> SharedNet:
    """The network with PyTorch's default initialisation drawn from ``seed`` on the CPU (the trunk
    first, as the ``mlp`` kind's, then the adapters in order; the global random state is kept)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SharedNet(n_in, n_outs, hidden, depth, dropout)
