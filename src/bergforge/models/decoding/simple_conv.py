"""``SimpleConvTimeAgg``: the MEG/EEG decoder of neuralbench's ``image`` tasks (neuraltrain's
port of brainmagick's SimpleConv, model config ``simpleconv_time_agg``), written here from the
research note's description (research/decoding.md §4) and the task's settings as defaults.

Input (B, C, T): C sensors × T samples (THINGS-MEG1: 271 × 120; THINGS-EEG2: 63 × 120), with the
sensors' positions (C, D), D = 2 or 3, normalised to [0, 1] per axis.

1. **Spatial attention** (neuraltrain's ``ChannelMerger``): each position gets a Fourier
   embedding — cos and sin of ``2π (k · (p + margin)) / (1 + 2·margin)`` for every integer
   frequency vector ``k ∈ {0…n_freqs−1}^D`` (10³ × 2 = 2,000 features in 3-D) — and each of the
   ``n_virtual`` (270) virtual channels is a softmax over the sensors of (learned head ·
   embedding): ``out[v] = Σ_c softmax_c(head_v · emb_c) x[c]``. The weights depend on the
   positions only, so the output does not depend on the order of the sensors, and any montage of
   any size can be fed. Training drops the sensors within ``spatial_dropout`` (0.2) of a point
   drawn uniformly in [0, 1]^D (from the epoch's dropout generator).
2. ``Conv1d(n_virtual → initial_linear, 1)`` (270 → 270), no activation.
3. Optional **subject layer** (off in the task): a per-subject ``Linear(initial_linear → hidden)``
   (weights ~ N(0, 1/C_in), bias likewise), chosen by each trial's subject index.
4. ``depth`` (4) **dilated convolutions**, kernel 3, channels ``[C₀, hidden × (depth−1), backbone_out]``
   (270 → 320 → 320 → 320 → 512), dilation ``dilation_growth^(k mod dilation_period)`` (1, 2, 4,
   8; the period 5 resets it), "same" padding. Every layer but the last is followed by BatchNorm
   and GELU; a layer whose input and output widths agree adds its input (residual); after every
   ``glu_every``-th (2nd) layer a gate ``GLU(Conv1d(c → 2c, 1 + 2·glu_context))`` (context 1:
   kernel 3) follows, the last layer included.
5. **Time aggregation** ``linear``: ``Linear(T → 1)`` over the samples, shared by all channels
   (``gap``: their mean).
6. **Output head**: ``Linear(backbone_out → n_out)`` (512 → 1,536; neuraltrain's ``Mlp`` with
   ``hidden_sizes: [-1]``, no norm or activation).

Parameter count at the task's size (271 MEG sensors or 63 EEG channels × 120 samples → 1,536; the
spatial attention makes it independent of the sensor count): **4,958,699** (heads 540,000; 1×1
conv 73,170; convolutions 259,520 + 2 × 307,520 + 492,032; BatchNorm 3 × 640; gates 615,040 +
1,573,888; time aggregation 121; head 787,968). The research note gives no figure to compare with.
Not implemented: neuraltrain's per-subject spatial attention, reference-electrode embeddings and
the attention usage penalty (all off in the task).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from bergforge.errors import DataError
from bergforge.models.decoding.simple_conv_settings import SimpleConvConfig


class FourierPositions(nn.Module):
    """(…, D) positions in [0, 1] → (…, 2·n_freqs^D) Fourier features (cos then sin)."""

    def __init__(self, n_freqs: int, n_dims: int, margin: float) -> None:
        super().__init__()
        self.n_dims, self.margin = n_dims, margin
        grid = torch.cartesian_prod(*[torch.arange(n_freqs, dtype=torch.float32)] * n_dims)
        grid = grid.reshape(-1, n_dims)  # (n_freqs^D, D), also for D = 1
        self.register_buffer("freqs", grid * (2 * math.pi / (1 + 2 * margin)), persistent=False)

    @property
    def size(self) -> int:
        return 2 * self.freqs.shape[0]

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        phase = (positions + self.margin) @ self.freqs.T
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class SpatialAttention(nn.Module):
    """(B, C, T) sensors → (B, n_virtual, T): softmax-over-sensors weights from the positions."""

    def __init__(self, n_virtual: int, n_freqs: int, n_dims: int, margin: float, dropout: float):
        super().__init__()
        self.embedding = FourierPositions(n_freqs, n_dims, margin)
        size = self.embedding.size
        self.heads = nn.Parameter(torch.randn(n_virtual, size) / math.sqrt(size))
        self.dropout = float(dropout)

    def weights(
        self, positions: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(n_virtual, C) or (B, n_virtual, C) attention weights of positions (C, D) / (B, C, D)."""
        scores = self.embedding(positions) @ self.heads.T  # (…, C, n_virtual)
        if self.training and self.dropout > 0:
            centre = torch.rand(
                positions.shape[-1], generator=generator, device=positions.device
            ).to(positions.dtype)
            banned = (positions - centre).norm(dim=-1) <= self.dropout  # (…, C)
            scores = scores.masked_fill(banned.unsqueeze(-1), float("-inf"))
        # every sensor banned: a row of -inf gives NaN weights, taken as 0 (as neuraltrain)
        return torch.softmax(scores, dim=-2).transpose(-1, -2).nan_to_num()

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.weights(positions, generator) @ x


class SubjectLayers(nn.Module):
    """A Linear(c_in → c_out) per subject over the channel axis of (B, c_in, T): trial b's
    output is ``weight[s_b]ᵀ x_b + bias[s_b]``. ``mode`` says how: ``gather`` takes every trial's
    matrix at once (B copies of c_in × c_out: fine at sensor size), ``loop`` runs one product per
    subject present in the batch (fMRI size, 20,484 × 128 per subject, where B copies would take
    GBs; it reads the batch's subjects back to the host and refuses an index outside the layer)."""

    def __init__(self, n_subjects: int, c_in: int, c_out: int, mode: str = "gather") -> None:
        super().__init__()
        if mode not in ("gather", "loop"):
            raise ValueError(f"SubjectLayers mode = {mode!r}; expected gather or loop")
        self.mode = mode
        self.weight = nn.Parameter(torch.randn(n_subjects, c_in, c_out) / math.sqrt(c_in))
        self.bias = nn.Parameter(torch.randn(n_subjects, c_out) / math.sqrt(c_in))

    def forward(self, x: torch.Tensor, subjects: torch.Tensor) -> torch.Tensor:
        if self.mode == "gather":
            out = torch.einsum("bct,bcd->bdt", x, self.weight[subjects])
            return out + self.bias[subjects].unsqueeze(-1)
        n = self.weight.shape[0]
        # unbound once: the backward stacks the subjects' gradients in one tensor (indexing the
        # weight per subject would fill a zero tensor of the whole weight per subject)
        weights, biases = self.weight.unbind(0), self.bias.unbind(0)
        out = x.new_zeros((x.shape[0], self.weight.shape[2], x.shape[2]))
        for s in torch.unique(subjects).tolist():
            if not 0 <= s < n:
                raise DataError(f"SubjectLayers: subject index {s}; expected 0…{n - 1}")
            rows = torch.nonzero(subjects == s).squeeze(1)
            part = torch.einsum("bct,cd->bdt", x[rows], weights[s])
            out = out.index_copy(0, rows, part + biases[s].unsqueeze(-1))
        return out


class ConvLayer(nn.Module):
    """Conv1d (dilated, same length) → [BatchNorm → GELU unless last] → [+ input] → [GLU gate]."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        dilation: int,
        last: bool,
        gate_context: int | None,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            c_in, c_out, kernel, padding=kernel // 2 * dilation, dilation=dilation
        )
        self.norm = None if last else nn.BatchNorm1d(c_out)
        self.residual = c_in == c_out
        self.gate = (
            None
            if gate_context is None
            else nn.Conv1d(c_out, 2 * c_out, 1 + 2 * gate_context, padding=gate_context)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.conv(h)
        if self.norm is not None:
            out = functional.gelu(self.norm(out))
        if self.residual:
            out = out + h
        if self.gate is not None:
            out = functional.glu(self.gate(out), dim=1)
        return out


class SimpleConvTimeAgg(nn.Module):
    """(B, C, T) → (B, n_out); the module docstring has the layers. ``positions`` (C, D) in
    [0, 1] are the sensors' (a buffer saved with the weights); ``n_subjects`` > 0 adds the
    subject layer (``forward`` then needs each trial's subject index)."""

    def __init__(
        self,
        positions: torch.Tensor,
        n_times: int,
        n_out: int,
        cfg: SimpleConvConfig,
        n_subjects: int = 0,
    ) -> None:
        super().__init__()
        positions = torch.as_tensor(positions, dtype=torch.float32)
        if positions.ndim != 2 or positions.shape[1] not in (2, 3):
            raise DataError(
                f"SimpleConvTimeAgg: expected sensor positions (channels, 2 or 3), got "
                f"{tuple(positions.shape)}"
            )
        if not torch.isfinite(positions).all() or positions.min() < 0 or positions.max() > 1:
            raise DataError(
                "SimpleConvTimeAgg: expected finite sensor positions normalised to [0, 1] per axis"
            )
        self.register_buffer("positions", positions)
        self.n_channels, self.n_times = int(positions.shape[0]), int(n_times)
        self.spatial = SpatialAttention(
            cfg.n_virtual, cfg.n_freqs, int(positions.shape[1]), cfg.margin, cfg.spatial_dropout
        )
        self.initial = nn.Conv1d(cfg.n_virtual, cfg.initial_linear, 1)
        width = cfg.initial_linear
        self.subject_layers = None
        if n_subjects > 0:
            self.subject_layers = SubjectLayers(n_subjects, width, cfg.hidden)
            width = cfg.hidden
        sizes = [width] + [cfg.hidden] * (cfg.depth - 1) + [cfg.backbone_out]
        self.layers = nn.ModuleList(
            ConvLayer(
                sizes[k],
                sizes[k + 1],
                cfg.kernel,
                int(cfg.dilation_growth ** (k % cfg.dilation_period)),
                last=k == cfg.depth - 1,
                gate_context=cfg.glu_context if (k + 1) % cfg.glu_every == 0 else None,
            )
            for k in range(cfg.depth)
        )
        self.time_agg = nn.Linear(n_times, 1) if cfg.time_agg == "linear" else None
        self.head = nn.Linear(cfg.backbone_out, n_out)

    def forward(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        subjects: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if x.ndim != 3 or tuple(x.shape[1:]) != (self.n_channels, self.n_times):
            raise DataError(
                f"SimpleConvTimeAgg: expected an input of shape (batch, {self.n_channels} "
                f"channels, {self.n_times} samples), got {tuple(x.shape)}"
            )
        h = self.initial(self.spatial(x, self.positions, generator))
        if self.subject_layers is not None:
            if subjects is None:
                raise DataError("SimpleConvTimeAgg: the subject layer needs the trials' subjects")
            h = self.subject_layers(h, subjects)
        for layer in self.layers:
            h = layer(h)
        h = h.mean(dim=2) if self.time_agg is None else self.time_agg(h).squeeze(2)
        return self.head(h)


def build(
    positions: torch.Tensor, n_times: int, n_out: int, cfg: SimpleConvConfig, n_subjects: int = 0
) -> SimpleConvTimeAgg:
    """The network with its initial weights drawn from ``cfg.seed`` (on the CPU, so the same on
    every device; the global random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return SimpleConvTimeAgg(positions, n_times, n_out, cfg, n_subjects)
