"""CNN8's training hyperparameters (config ``models.cnn8``), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters (defaults: the MOSAIC CNN8 card)."""

    width: int = 384
    input_size: int = 224
    lr: float = 1e-4
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 100
    val_fraction: float = 0.1
    plateau_factor: float = 0.3
    plateau_patience: int = 6
    early_stop_patience: int = 7
    early_stop_delta: float = 0.002
    readout_l1: float = 0.0  # weight of Σ‖ŝ‖₁‖f‖₁; the card names no value
    seed: int = 20200220
    device: str = "cpu"
