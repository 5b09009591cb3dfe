"""What a BOLD dataset's decoding windows are (config ``datasets.<name>.preprocess``): the
settings, checked against the data's TR and the bundled meshes. Light to import (NumPy and the
dataset's constants): the workflow checks a config with it while Snakemake parses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from bergforge.datasets import bold5000 as b5
from bergforge.errors import ConfigError, DataError
from bergforge.preprocess.bold_windows import window_indices
from bergforge.preprocess.meshes import BUNDLED


@dataclass(frozen=True)
class WindowSettings:
    """What the windows are (config ``datasets.<name>.preprocess``; results depend on these)."""

    tr: float = 2.0
    start: float = 2.0
    duration: float = 7.0
    n_trs: int = 4  # what the decoder takes: another count from tr and duration is an error
    mesh: str = "fsaverage5"


#: the keys of a dataset's ``preprocess`` section (WindowSettings without ``tr``: the data's TR)
WINDOW_KEYS = tuple(f.name for f in fields(WindowSettings) if f.name != "tr")


def window_settings(section: Mapping[str, Any] | None, where: str) -> WindowSettings:
    """The windows of a dataset's ``preprocess`` section at BOLD5000's TR (2 s); an unknown key
    or a window that is not ``n_trs`` TRs long is one :class:`ConfigError` naming ``where``."""
    values = dict(section or {})
    unknown = sorted(set(values) - set(WINDOW_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown}; expected some of {list(WINDOW_KEYS)}"
        )
    settings = WindowSettings(tr=b5.TR, **values)
    if settings.mesh not in BUNDLED:
        raise ConfigError(
            f"{where}.mesh = {settings.mesh!r}; expected one of {sorted(BUNDLED)} (the meshes "
            "nilearn bundles; nothing is downloaded)"
        )
    try:
        _, length = window_indices([0.0], settings.tr, settings.start, settings.duration)
    except DataError as err:
        raise ConfigError(f"{where}: {err}") from err
    if length != settings.n_trs:
        raise ConfigError(
            f"{where}: a {settings.duration:g} s window at TR {settings.tr:g} s is "
            f"round({settings.duration:g} / {settings.tr:g}) = {length} TRs, but n_trs is "
            f"{settings.n_trs}; expected a duration that rounds to {settings.n_trs} TRs "
            f"(e.g. {settings.n_trs * settings.tr:g} s) or n_trs = {length}"
        )
    return settings
