"""``FmriMlp``: the residual MLP of neuralbench's ``fmri_mlp`` decoder (after MindEye), as the
research note decoding.md §1.6 describes it, with the task's sizes as defaults.

Input (B, F, T): F features (e.g. 20,484 fsaverage5 vertices) × T TRs. Each TR's map goes
through ``lin0`` (F → hidden, shared across TRs) → LayerNorm → GELU → dropout 0.5, then
``n_blocks`` residual blocks (Linear → LayerNorm → GELU → dropout 0.15, plus the block's input);
the T TRs are then aggregated (``out_linear``: a learned weighted sum plus a bias, shared by all
hidden units; ``out_mean``: their mean), ``lin1`` maps hidden → out and the head is one
Linear(out → out) (torchvision's MLP with a single hidden size: no norm or activation after its
last layer, and its dropout is 0).

Linear (``linear``; off in the task): ``lin0``'s output goes straight to dropout (no LayerNorm,
no GELU) and there are no residual blocks, so the trained network is a linear map of the window,
of rank ``hidden`` (``lin0`` per TR, the TR weighting, ``lin1`` and the head): the decoder that
tells what the ``clip`` training gains over least squares from what the nonlinearity adds.

Subject layers (``n_subjects`` > 0; off in the task, which trains one network for all subjects):
as neuraltrain's ``FmriMlp`` with ``subject_layers_dim="hidden"``, the input first goes through
its trial's subject's own Linear(F → hidden) over the feature axis (the same map for every TR;
:class:`~bergforge.models.decoding.simple_conv.SubjectLayers`, a weight (n_subjects, F, hidden)
and a bias (n_subjects, hidden), both ~ N(0, 1/F)), and ``lin0`` becomes Linear(hidden → hidden);
the rest is unchanged. ``forward`` then needs each trial's subject index (0 … n_subjects − 1).

Dropout masks come from a generator the training loop passes in (seeded per epoch), as in the
``mlp`` kind, so a resumed training draws the same masks.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from bergforge.errors import DataError
from bergforge.models.decoding.settings import DecoderConfig
from bergforge.models.decoding.simple_conv import SubjectLayers


def dropout(
    h: torch.Tensor, p: float, training: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """Inverted dropout with masks drawn from ``generator`` (identity unless training)."""
    if not training or p == 0:
        return h
    keep = torch.rand(h.shape, generator=generator, device=h.device) >= p
    return h * keep / (1.0 - p)


class ResidualBlock(nn.Module):
    """Linear(hidden → hidden) → LayerNorm → GELU → dropout (the residual is added outside)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
        return dropout(functional.gelu(self.norm(self.linear(h))), p, self.training, generator)


class FmriMlp(nn.Module):
    """(B, n_features, n_trs) → (B, n_out); the module docstring has the layers (``n_subjects``
    > 0 adds the subject layers; ``linear`` drops LayerNorm, GELU and the blocks)."""

    def __init__(
        self,
        n_features: int,
        n_out: int,
        hidden: int = 128,
        n_blocks: int = 2,
        n_trs: int = 4,
        time_agg: str = "out_linear",
        dropout_in: float = 0.5,
        dropout_blocks: float = 0.15,
        n_subjects: int = 0,
        linear: bool = False,
    ) -> None:
        super().__init__()
        if time_agg not in ("out_linear", "out_mean"):
            raise ValueError(f"time_agg = {time_agg!r}; expected out_linear or out_mean")
        if linear and n_blocks:
            raise ValueError(f"a linear FmriMlp has no residual blocks; got n_blocks = {n_blocks}")
        self.n_features, self.n_trs, self.time_agg = n_features, n_trs, time_agg
        self.dropout_in, self.dropout_blocks = float(dropout_in), float(dropout_blocks)
        self.subject_layers = None  # created first when on (as neuraltrain), so off draws as before
        if n_subjects > 0:
            self.subject_layers = SubjectLayers(n_subjects, n_features, hidden, mode="loop")
        self.lin0 = nn.Linear(hidden if n_subjects > 0 else n_features, hidden)
        self.norm0 = None if linear else nn.LayerNorm(hidden)
        self.blocks = nn.ModuleList(ResidualBlock(hidden) for _ in range(n_blocks))
        self.out_linear = nn.Linear(n_trs, 1) if time_agg == "out_linear" else None
        self.lin1 = nn.Linear(hidden, n_out)
        self.head = nn.Linear(n_out, n_out)

    def forward(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        subjects: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``subjects``: each trial's subject index (B,), needed with subject layers only."""
        if x.ndim != 3 or x.shape[1] != self.n_features:
            raise DataError(
                f"FmriMlp: expected an input of shape (batch, {self.n_features} features, "
                f"{self.n_trs} TRs), got {tuple(x.shape)}"
            )
        if x.shape[2] != self.n_trs:
            raise DataError(f"FmriMlp: expected {self.n_trs} TRs, got {x.shape[2]}")
        if self.subject_layers is not None:
            if subjects is None or subjects.shape != (x.shape[0],):
                raise DataError(
                    "FmriMlp: the subject layers need one subject index per trial, got "
                    f"{None if subjects is None else tuple(subjects.shape)} for {x.shape[0]} trials"
                )
            x = self.subject_layers(x, subjects)  # (B, hidden, T)
        h = self.lin0(x.transpose(1, 2))  # (B, T, hidden): each TR's map projected alike
        if self.norm0 is not None:
            h = functional.gelu(self.norm0(h))
        h = dropout(h, self.dropout_in, self.training, generator)
        for block in self.blocks:
            h = block(h, self.dropout_blocks, generator) + h
        h = h.transpose(1, 2)  # (B, hidden, T)
        h = h.mean(dim=2) if self.out_linear is None else self.out_linear(h).squeeze(2)
        return self.head(self.lin1(h))


def build(n_features: int, n_out: int, cfg: DecoderConfig, n_subjects: int = 0) -> FmriMlp:
    """The network with PyTorch's default initialisation drawn from ``cfg.seed`` (on the CPU, so
    the same on every device; the global random state is left as it was); with
    ``cfg.subject_layers``, one subject layer per subject (``n_subjects`` ≥ 1)."""
    if cfg.subject_layers and n_subjects < 1:
        raise DataError(f"{cfg.SECTION}.subject_layers: expected ≥ 1 subject, got {n_subjects}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return FmriMlp(
            n_features,
            n_out,
            cfg.hidden,
            cfg.n_blocks,
            cfg.n_trs,
            cfg.time_agg,
            cfg.dropout_in,
            cfg.dropout_blocks,
            n_subjects if cfg.subject_layers else 0,
            cfg.linear,
        )
