"""Selections as BERG's cards define them, turned into the target rows they keep.

MEG: ``region`` (sensor regions), ``sensors`` (CTF prefixes), ``sensor_index`` (binary, one per
sensor) are unioned and sorted; ``timepoints`` (binary, one per time). EEG: ``channels`` (names, in
the order given) and ``timepoints``. The result indexes the regression rows
(row = channel · n_times + time), so a selection slices the weights at load time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bergforge.datasets.sensors import MEG_PREFIXES, REGIONS
from bergforge.errors import InvalidParameterError

MEG_SELECTION_KEYS = ("region", "sensors", "sensor_index", "timepoints")
EEG_SELECTION_KEYS = ("channels", "timepoints")
MEG_REGIONS = tuple(sorted(REGIONS.values()))


@dataclass(frozen=True)
class Selection:
    """Kept channel/sensor indices and time indices, in output order."""

    channels: np.ndarray
    times: np.ndarray

    def rows(self, n_times: int) -> np.ndarray:
        """Flat regression rows of the kept targets, channel-major."""
        return (self.channels[:, None] * n_times + self.times[None, :]).ravel()


def selection_keys(modality: str) -> tuple[str, ...]:
    """The selection keys valid for a modality."""
    return MEG_SELECTION_KEYS if modality == "meg" else EEG_SELECTION_KEYS


def check_selection_keys(modality: str, selection: object) -> dict:
    """Validate the type and keys of ``selection`` (no file I/O needed); return it as a dict."""
    if selection is None:
        return {}
    if not isinstance(selection, dict):
        raise InvalidParameterError(
            f"selection must be a dict or None; got {type(selection).__name__}"
        )
    valid = selection_keys(modality)
    for key in selection:
        if key not in valid:
            raise InvalidParameterError(
                f"invalid selection key {key!r} for a {modality.upper()} model; valid keys are: "
                f"{sorted(valid)}"
            )
    return selection


def _names(key: str, value: object, valid: Sequence[str]) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple | np.ndarray):
        raise InvalidParameterError(
            f"selection[{key!r}] must be a list of strings; got {value!r}; valid values: "
            f"{list(valid)}"
        )
    names = [str(v) for v in value]
    if not names:
        raise InvalidParameterError(
            f"selection[{key!r}] is empty; give at least one of {list(valid)}"
        )
    bad = [n for n in names if n not in valid]
    if bad:
        raise InvalidParameterError(
            f"invalid value(s) {bad} in selection[{key!r}]; valid values are: {list(valid)}"
        )
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"selection[{key!r}] lists a value twice: {names}")
    return names


def _binary(key: str, value: object, length: int) -> np.ndarray:
    if isinstance(value, str) or not isinstance(value, list | tuple | np.ndarray):
        raise InvalidParameterError(
            f"selection[{key!r}] must be a binary list or array of length {length}; got "
            f"{type(value).__name__}"
        )
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise InvalidParameterError(
            f"selection[{key!r}] must have exactly {length} elements; got shape {arr.shape}"
        )
    if arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all():
        raise InvalidParameterError(f"selection[{key!r}] must be binary (only 0s and 1s)")
    if not arr.any():
        raise InvalidParameterError(f"selection[{key!r}] selects nothing; set at least one 1")
    return np.flatnonzero(arr)


def resolve_meg(
    selection: dict, prefixes: np.ndarray, regions: np.ndarray, n_times: int
) -> Selection:
    """Sensors of ``region`` ∪ ``sensors`` ∪ ``sensor_index`` (sorted; all if none) × times."""
    prefixes, regions = np.asarray(prefixes).astype(str), np.asarray(regions).astype(str)
    chosen: set[int] = set()
    any_sensor_key = False
    if "region" in selection:
        any_sensor_key = True
        wanted = _names("region", selection["region"], MEG_REGIONS)
        chosen |= set(np.flatnonzero(np.isin(regions, wanted)).tolist())
    if "sensors" in selection:
        any_sensor_key = True
        wanted = _names("sensors", selection["sensors"], MEG_PREFIXES)
        chosen |= set(np.flatnonzero(np.isin(prefixes, wanted)).tolist())
    if "sensor_index" in selection:
        any_sensor_key = True
        chosen |= set(_binary("sensor_index", selection["sensor_index"], len(prefixes)).tolist())
    if any_sensor_key and not chosen:
        raise InvalidParameterError(f"selection {selection} keeps no sensor of this model")
    channels = np.array(sorted(chosen)) if any_sensor_key else np.arange(len(prefixes))
    times = _times(selection, n_times)
    return Selection(channels.astype(np.int64), times)


def resolve_eeg(selection: dict, ch_names: Sequence[str], n_times: int) -> Selection:
    """Channels in the order given (all if absent) × times."""
    ch_names = [str(c) for c in ch_names]
    if "channels" in selection:
        names = _names("channels", selection["channels"], ch_names)
        channels = np.array([ch_names.index(n) for n in names])
    else:
        channels = np.arange(len(ch_names))
    return Selection(channels.astype(np.int64), _times(selection, n_times))


def _times(selection: dict, n_times: int) -> np.ndarray:
    if "timepoints" in selection:
        return _binary("timepoints", selection["timepoints"], n_times).astype(np.int64)
    return np.arange(n_times, dtype=np.int64)
