"""Settings of the fMRI decoders ``fmri_mlp`` (config ``models.fmri_mlp``) and ``fmri_linear``
(``models.fmri_linear``), importable without torch. Defaults: research note decoding.md §1.6
(network) and §1.7 (training)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, TypeVar

from bergforge.config import dataclass_from_section
from bergforge.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
TIME_AGGREGATIONS = ("out_linear", "out_mean")


class DecoderSettings:
    """What every decoder's settings dataclass shares (``fmri_mlp``'s, ``SimpleConvTimeAgg``'s):
    one error naming its config section, the fit job's settings plus the runtime ``device``, and
    the hyperparameters a checkpoint records."""

    SECTION: ClassVar[str]

    def refuse_failed(self, checks: list[tuple[bool, str]]) -> None:
        """One ConfigError (the first failed check's message, under ``SECTION``)."""
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"{self.SECTION}: {message}")

    @classmethod
    def from_settings(
        cls: type[Settings], settings: dict[str, Any] | None, runtime: dict[str, Any] | None = None
    ) -> Settings:
        """The config of a fit job: the rule's settings plus the runtime ``device``."""
        values = dict(settings or {})
        if runtime and "device" in runtime:
            values["device"] = runtime["device"]
        return dataclass_from_section(cls, values, cls.SECTION)

    def hyperparameters(self) -> dict[str, Any]:
        """Everything but ``device`` (a run may resume on another device)."""
        return {k: v for k, v in asdict(self).items() if k != "device"}  # type: ignore[call-overload]


Settings = TypeVar("Settings", bound=DecoderSettings)


@dataclass(frozen=True)
class DecoderConfig(DecoderSettings):
    """Hyperparameters of one ``fmri_mlp`` fit and the runtime ``device``."""

    SECTION: ClassVar[str] = "models.fmri_mlp"
    hidden: int = 128  # width of lin0 and the residual blocks
    n_blocks: int = 2  # residual blocks Linear → LayerNorm → GELU → dropout
    n_trs: int = 4  # TRs per input window (the input's last axis)
    time_agg: str = "out_linear"  # learned weighted sum of the TRs (+ bias), or their mean
    dropout_in: float = 0.5  # after lin0's LayerNorm → GELU
    dropout_blocks: float = 0.15  # inside every residual block
    subject_layers: bool = False  # a Linear(features → hidden) per subject before lin0
    linear: bool = False  # no LayerNorm, GELU or residual blocks: a linear decoder, trained alike
    lr: float = 1e-4  # AdamW's lr and OneCycleLR's max_lr
    weight_decay: float = 0.05
    pct_start: float = 0.1  # OneCycleLR's share of rising steps (cosine annealing)
    grad_clip: float = 1.0  # total gradient norm (L2) clipped to this; 0 = no clipping
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 5  # epochs without a better validation in-batch top-5 before stopping
    seed: int = 33  # the model seed (initial weights, batch order, dropout masks)
    device: str = "auto"  # runtime: auto (cuda when torch sees one), cpu or cuda

    def __post_init__(self) -> None:
        checks = [
            (self.device in DEVICES, f"device = {self.device!r}; expected one of {DEVICES}"),
            (
                self.time_agg in TIME_AGGREGATIONS,
                f"time_agg = {self.time_agg!r}; expected one of {TIME_AGGREGATIONS}",
            ),
            (self.hidden >= 1 and self.n_blocks >= 0, "hidden ≥ 1 and n_blocks ≥ 0 expected"),
            (self.n_trs >= 1, f"n_trs = {self.n_trs}; expected ≥ 1"),
            (
                isinstance(self.subject_layers, bool),
                f"subject_layers = {self.subject_layers!r}; expected true or false",
            ),
            (isinstance(self.linear, bool), f"linear = {self.linear!r}; expected true or false"),
            (
                not self.linear or self.n_blocks == 0,
                f"linear: true has no residual blocks; expected n_blocks: 0, got {self.n_blocks}",
            ),
            (
                0.0 <= self.dropout_in < 1.0 and 0.0 <= self.dropout_blocks < 1.0,
                "dropout_in and dropout_blocks: expected 0 ≤ dropout < 1",
            ),
            (0.0 < self.pct_start < 1.0, f"pct_start = {self.pct_start}; expected (0, 1)"),
            (self.max_epochs >= 1 and self.patience >= 1, "max_epochs and patience must be ≥ 1"),
            (self.batch_size >= 1, "batch_size must be ≥ 1"),
            (self.lr > 0 and self.weight_decay >= 0, "lr must be > 0 and weight_decay ≥ 0"),
            (self.grad_clip >= 0, f"grad_clip = {self.grad_clip}; expected ≥ 0"),
        ]
        self.refuse_failed(checks)


@dataclass(frozen=True)
class LinearDecoderConfig(DecoderConfig):
    """Hyperparameters of one ``fmri_linear`` fit: ``fmri_mlp``'s with the network linear (no
    LayerNorm, GELU or residual blocks; neuralbench's linear baseline ``fmri_linear``, decoding.md
    §1.6) and no dropout, trained the same way (the ``clip`` loss, AdamW + one-cycle, early
    stopping). ``linear`` and ``n_blocks`` are what make it this kind: another value is refused."""

    SECTION: ClassVar[str] = "models.fmri_linear"
    n_blocks: int = 0
    dropout_in: float = 0.0
    linear: bool = True

    def __post_init__(self) -> None:
        self.refuse_failed(
            [
                (
                    self.linear is True,
                    f"linear = {self.linear!r}; the fmri_linear kind is linear (expected true, "
                    "or leave it out; the nonlinear network is the fmri_mlp kind)",
                ),
                (
                    self.n_blocks == 0,
                    f"n_blocks = {self.n_blocks}; the fmri_linear kind has no residual blocks "
                    "(expected 0, or leave it out; blocks are the fmri_mlp kind's)",
                ),
            ]
        )
        super().__post_init__()


#: the fMRI decoding kinds and their settings (the fit job and the workflow's sizing read them)
FMRI_DECODER_CONFIGS: dict[str, type[DecoderConfig]] = {
    "fmri_mlp": DecoderConfig,
    "fmri_linear": LinearDecoderConfig,
}
