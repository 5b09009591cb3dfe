"""Parameters of MEG and EEG preprocessing (defaults = the published recipes; config overrides)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from bergforge.datasets.sensors import BAD_MEG_SENSOR, EEG_MONTAGE
from bergforge.errors import ConfigError

BASELINE_MODES = ("mean", "ratio", "logratio", "percent", "zscore", "zlogratio")


@dataclass(frozen=True)
class MegParams:
    """THINGS-MEG1 recipe (``MEG/step1_preprocessing.py`` of THINGS-data)."""

    l_freq: float = 0.1
    h_freq: float = 40.0
    tmin: float = -0.1
    tmax: float = 1.3
    mode: str = "zscore"
    sfreq: float = 200.0
    drop_channels: tuple[str, ...] = (BAD_MEG_SENSOR,)
    chunk_mb: float = 8.0

    @property
    def baseline(self) -> tuple[None, float]:
        return (None, 0.0)


@dataclass(frozen=True)
class EegParams:
    """THINGS-EEG2 recipe of BERG (``prepare_things_eeg_2.py``)."""

    l_freq: float = 0.03
    h_freq: float = 100.0
    tmin: float = -0.1
    tmax: float = 0.6
    mode: str = "mean"
    sfreq: float = 200.0
    montage: str = EEG_MONTAGE
    csd_lambda2: float = 1e-5
    csd_stiffness: float = 4.0
    train_reps: int = 4
    test_reps: int | None = None
    epoch_batch: int = 2000
    chunk_mb: float = 8.0

    @property
    def baseline(self) -> tuple[None, float]:
        return (None, 0.0)


def _build(cls, section: dict[str, Any] | None, where: str):
    values = dict(section or {})
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(
            f"config: unknown key(s) {unknown} under {where}; expected some of {sorted(allowed)}"
        )
    if "drop_channels" in values:
        values["drop_channels"] = tuple(values["drop_channels"])
    params = cls(**values)
    if params.mode not in BASELINE_MODES:
        raise ConfigError(
            f"config: {where}.mode = {params.mode!r}; expected one of {list(BASELINE_MODES)}"
        )
    if not params.tmin < 0 < params.tmax:
        raise ConfigError(
            f"config: {where}: expected tmin < 0 < tmax, got {params.tmin}, {params.tmax}"
        )
    if not 0 < params.l_freq < params.h_freq:
        raise ConfigError(
            f"config: {where}: expected 0 < l_freq < h_freq, got {params.l_freq}, {params.h_freq}"
        )
    return params


def meg_params(section: dict[str, Any] | None = None) -> MegParams:
    """:class:`MegParams` from the ``preprocess.meg`` config section (missing keys keep defaults)."""
    return _build(MegParams, section, "preprocess.meg")


def eeg_params(section: dict[str, Any] | None = None) -> EegParams:
    """:class:`EegParams` from the ``preprocess.eeg`` config section (missing keys keep defaults)."""
    return _build(EegParams, section, "preprocess.eeg")


def as_record(params: MegParams | EegParams) -> dict[str, Any]:
    """The parameters as a JSON-ready dict (for the store's ``preprocessing`` attribute)."""
    record = asdict(params)
    record["baseline"] = list(params.baseline)
    if "drop_channels" in record:
        record["drop_channels"] = list(record["drop_channels"])
    return record
