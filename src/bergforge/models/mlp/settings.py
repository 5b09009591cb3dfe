"""The ``mlp`` kind's settings (config ``models.mlp``), importable without torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from bergforge.config import dataclass_from_section
from bergforge.errors import ConfigError

INPUTS = ("pca", "features")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class MlpConfig:
    """Hyperparameters of one MLP (defaults: the MLP head of seed 004, 512 GELU units, dropout
    0.2, AdamW lr 1e-3 and weight decay 1e-2) and the runtime ``device``."""

    #: the config section errors name (a kind built on these settings names its own)
    SECTION: ClassVar[str] = "models.mlp"
    input: str = "pca"  # the split's PCA scores (as the linear kind's) or the raw features
    n_components: int = 250  # PCA components of the input (input = pca)
    pca: dict[str, Any] = field(default_factory=dict)  # PCA solver options, as models.linear.pca
    hidden: int = 512  # units of every hidden layer
    depth: int = 1  # hidden layers
    dropout: float = 0.2  # after every hidden layer, while training
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 20  # epochs without a better validation loss before stopping
    min_delta: float = 0.0  # smallest validation-loss improvement that counts
    val_fraction: float = 0.1  # share of the training images held out for early stopping
    seed: int = 20200220
    device: str = "auto"  # runtime: auto (cuda when torch sees one), cpu or cuda

    def __post_init__(self) -> None:
        checks = [
            (self.input in INPUTS, f"input = {self.input!r}; expected one of {INPUTS}"),
            (self.device in DEVICES, f"device = {self.device!r}; expected one of {DEVICES}"),
            (self.hidden >= 1 and self.depth >= 1, "hidden and depth must be at least 1"),
            (0.0 <= self.dropout < 1.0, f"dropout = {self.dropout}; expected 0 ≤ dropout < 1"),
            (0.0 < self.val_fraction < 1.0, f"val_fraction = {self.val_fraction}; expected (0, 1)"),
            (self.max_epochs >= 1 and self.patience >= 1, "max_epochs and patience must be ≥ 1"),
            (self.batch_size >= 1 and self.n_components >= 1, "batch_size, n_components ≥ 1"),
            (self.lr > 0 and self.weight_decay >= 0, "lr must be > 0 and weight_decay ≥ 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"{self.SECTION}: {message}")

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None, runtime: dict[str, Any] | None = None):
        """The config of a fit job: the rule's settings plus the runtime ``device``."""
        values = dict(settings or {})
        if runtime and "device" in runtime:
            values["device"] = runtime["device"]
        pca = values.pop("pca", None) or {}
        if not isinstance(pca, dict):
            raise ConfigError(f"{cls.SECTION}.pca = {pca!r}; expected a mapping of PCA options")
        return dataclass_from_section(cls, {**values, "pca": dict(pca)}, cls.SECTION)

    def hyperparameters(self) -> dict[str, Any]:
        """Everything but ``device`` (a run may resume on another device)."""
        return {k: v for k, v in asdict(self).items() if k != "device"}
