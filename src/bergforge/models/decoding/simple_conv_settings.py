"""Settings of the ``SimpleConvTimeAgg`` MEG/EEG decoder (config
``models.simple_conv``, kind ``simple_conv``), importable without torch. Defaults: neuralbench's
``models/simpleconv_time_agg.yaml`` as the research note (decoding.md §4) describes it, and the
training defaults the decoders share (§1.7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bergforge.models.decoding.settings import DEVICES, DecoderSettings

TIME_AGGREGATIONS = ("linear", "gap")


@dataclass(frozen=True)
class SimpleConvConfig(DecoderSettings):
    """Hyperparameters of one ``SimpleConvTimeAgg`` fit and the runtime ``device``."""

    SECTION: ClassVar[str] = "models.simple_conv"
    # spatial attention
    n_virtual: int = 270  # virtual channels the sensors are merged into
    n_freqs: int = 10  # Fourier frequencies per position axis (3-D: 2·10³ = 2,000 features)
    margin: float = 0.2  # the embedding spans [−margin, 1 + margin]
    spatial_dropout: float = 0.2  # radius of the sensor patch dropped per training batch
    # convolutions
    initial_linear: int = 270  # 1×1 convolution after the attention
    hidden: int = 320
    depth: int = 4
    kernel: int = 3
    dilation_growth: int = 2
    dilation_period: int = 5  # the dilation restarts at 1 every this many layers
    glu_every: int = 2  # a GLU gate after every this many layers
    glu_context: int = 1  # the gate's kernel is 1 + 2·context
    backbone_out: int = 512
    time_agg: str = "linear"  # Linear over the samples, or gap (their mean)
    subject_layers: bool = False  # a per-subject Linear after the 1×1 convolution
    # training (as the fmri_mlp decoder)
    lr: float = 1e-4  # AdamW's lr and OneCycleLR's max_lr
    weight_decay: float = 0.05
    pct_start: float = 0.1
    grad_clip: float = 1.0  # total gradient norm (L2) clipped to this; 0 = no clipping
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 5  # epochs without a better validation in-batch top-5 before stopping
    seed: int = 33  # the model seed (initial weights, batch order, spatial dropout)
    device: str = "auto"  # runtime: auto (cuda when torch sees one), cpu or cuda

    def __post_init__(self) -> None:
        positive = ("n_virtual", "n_freqs", "initial_linear", "hidden", "depth", "backbone_out")
        positive += ("dilation_growth", "dilation_period", "glu_every", "batch_size")
        checks = [
            (self.device in DEVICES, f"device = {self.device!r}; expected one of {DEVICES}"),
            (
                self.time_agg in TIME_AGGREGATIONS,
                f"time_agg = {self.time_agg!r}; expected one of {TIME_AGGREGATIONS}",
            ),
            (
                all(isinstance(getattr(self, k), int) and getattr(self, k) >= 1 for k in positive),
                f"{', '.join(positive)}: expected integers ≥ 1",
            ),
            (self.kernel >= 1 and self.kernel % 2 == 1, f"kernel = {self.kernel}; expected odd"),
            (self.glu_context >= 0, f"glu_context = {self.glu_context}; expected ≥ 0"),
            (self.margin >= 0, f"margin = {self.margin}; expected ≥ 0"),
            (
                0.0 <= self.spatial_dropout < 1.0,
                f"spatial_dropout = {self.spatial_dropout}; expected 0 ≤ radius < 1",
            ),
            (0.0 < self.pct_start < 1.0, f"pct_start = {self.pct_start}; expected (0, 1)"),
            (self.max_epochs >= 1 and self.patience >= 1, "max_epochs and patience must be ≥ 1"),
            (self.lr > 0 and self.weight_decay >= 0, "lr must be > 0 and weight_decay ≥ 0"),
            (self.grad_clip >= 0, f"grad_clip = {self.grad_clip}; expected ≥ 0"),
        ]
        self.refuse_failed(checks)
