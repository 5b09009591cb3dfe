"""Settings of the two free-viewing kinds (importable without torch).

- ``ridge_cv``: ``alphas``, the penalties each target chooses from (positive, default
  ``np.logspace(-1, 5, 13)``, on standardised features and targets);
- ``shared``: the ``mlp`` kind's network, optimiser, early-stopping and seed settings
  (:class:`bergforge.models.mlp.settings.MlpConfig`: ``hidden``, ``depth``, ``dropout``, ``lr``,
  ``weight_decay``, ``batch_size``, ``max_epochs``, ``patience``, ``min_delta``,
  ``val_fraction``, ``seed``); the features go in as they are (``input: features``, no PCA: they
  are a few hundred wide). The device is the caller's runtime argument, never a setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bergforge.config import dataclass_from_section
from bergforge.errors import ConfigError
from bergforge.models.mlp.settings import MlpConfig

FIXATION_KINDS = ("ridge_cv", "shared")
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 5, 13))
#: MlpConfig fields a fixation ``shared`` model does not take (raw features; runtime device)
NOT_SHARED_SETTINGS = ("input", "n_components", "pca", "device")


def check_kind(kind: str) -> str:
    if kind not in FIXATION_KINDS:
        raise ConfigError(f"fixation model kind {kind!r}; expected one of {FIXATION_KINDS}")
    return kind


@dataclass(frozen=True)
class RidgeSettings:
    """The ``ridge_cv`` kind's penalties."""

    SECTION: ClassVar[str] = "models.fixations.ridge_cv"
    alphas: tuple[float, ...] = DEFAULT_ALPHAS

    def __post_init__(self) -> None:
        alphas = self.alphas
        ok = isinstance(alphas, tuple) and len(alphas) > 0
        ok = ok and all(
            isinstance(a, int | float) and not isinstance(a, bool) and np.isfinite(a) and a > 0
            for a in alphas
        )
        if not ok:
            raise ConfigError(
                f"{self.SECTION}.alphas = {alphas!r}; expected a non-empty list of positive numbers"
            )

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> RidgeSettings:
        values = dict(settings or {})
        if "alphas" in values:
            alphas = values["alphas"]
            if isinstance(alphas, np.ndarray):
                alphas = alphas.tolist()
            if not isinstance(alphas, list | tuple):
                raise ConfigError(
                    f"{cls.SECTION}.alphas = {alphas!r}; expected a list of positive numbers"
                )
            values["alphas"] = tuple(float(a) if isinstance(a, np.floating) else a for a in alphas)
        return dataclass_from_section(cls, values, cls.SECTION)

    def record(self) -> dict[str, Any]:
        return {"alphas": [float(a) for a in self.alphas]}


@dataclass(frozen=True)
class FixationNetConfig(MlpConfig):
    """The ``shared`` kind's settings on fixations: ``MlpConfig``'s, raw feature input."""

    SECTION: ClassVar[str] = "models.fixations.shared"
    input: str = "features"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.input != "features":
            raise ConfigError(f"{self.SECTION}: input = {self.input!r}; expected 'features'")

    @classmethod
    def of(cls, settings: dict[str, Any] | None, device: str) -> FixationNetConfig:
        """From the kind's settings and the runtime ``device``."""
        values = dict(settings or {})
        refused = sorted(k for k in values if k in NOT_SHARED_SETTINGS)
        if refused:
            raise ConfigError(
                f"{cls.SECTION}: key(s) {refused} are not settings of this kind (features go in "
                "raw, no PCA; the device is a runtime argument)"
            )
        return cls.from_settings(values, {"device": device})

    def record(self) -> dict[str, Any]:
        """What the trunk and adapters are trained with (no input/PCA/device)."""
        return {k: v for k, v in self.hyperparameters().items() if k not in NOT_SHARED_SETTINGS}
