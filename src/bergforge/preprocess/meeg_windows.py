"""neuralbench-style decoding windows of one continuous MEG/EEG recording (a THINGS-MEG1 run, a
THINGS-EEG2 session partition), as neuralset's ``MneRaw`` extractor makes them for neuralbench's
MEG and EEG ``image`` tasks (research/decoding.md §1.10; neuralbench ``defaults/{eeg,meg}/config.yaml``
and ``tasks/{eeg,meg}/image/config.yaml``).

Steps, in neuralset's order, on a loaded ``mne.io.Raw`` holding only the data channels:

1. **notch**: 50 and 60 Hz and their harmonics below min(Nyquist, 301 Hz), both line frequencies
   whatever the lab's (neuralbench's default; THINGS-MEG1's ``meg.json`` says 60 Hz, the research
   notes give none for THINGS-EEG2, recorded in Berlin), MNE's zero-phase FIR notch;
2. **band-pass** 0.1–75 Hz, MNE's default zero-phase FIR (a low-pass at or above Nyquist is skipped);
3. **resample** to 120 Hz (MNE);
4. **robust scaling** of each channel over the **whole recording** at 120 Hz: ``(x − median) / IQR``
   (IQR = 75th − 25th percentile, linear interpolation; an IQR below 10·eps counts as 1), which is
   scikit-learn's ``RobustScaler`` with its defaults, as neuralset fits it on each recording
   (``scaler.fit_transform(raw._data.T)``). It uses no labels and no other recording: a test
   partition is scaled by its own statistics, as in neuralbench;
5. **windows** of ``duration`` = 1.0 s from ``onset + start`` (start −0.2 s): 120 samples from
   sample ``round((onset + start) · 120)`` (neuralset's ``round(seconds × frequency)``, halves to
   even); a window past either end of the recording is a :class:`DataError`;
6. **baseline**: the mean of the window's samples in ``[baseline[0], baseline[1])`` seconds from
   the window's start (neuralset measures its baseline from the segment start: [0, 0.2] s is the
   200 ms before onset, 24 samples) is subtracted per trial and channel;
7. **clamp** to ±20.

Sensor positions for the spatial attention of ``SimpleConvTimeAgg``: :func:`sensor_positions`
(3-D from the recording, a montage, or MNE's 2-D CTF-275 layout) and :func:`normalise_positions`
(min–max to [0, 1] per axis, as neuralset's ``ChannelPositions`` does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bergforge.config import dataclass_from_section
from bergforge.datasets.sensors import BAD_MEG_SENSOR, EEG_MONTAGE, eeg_positions
from bergforge.datasets.sensors import meg_sensor_positions as layout_positions
from bergforge.errors import ConfigError, DataError

#: trials cut, baseline-corrected and clamped at a time (bounds the float64 work space)
WINDOW_BATCH = 4096


@dataclass(frozen=True)
class NeuralbenchParams:
    """Settings of the neuralbench-style decoding windows (future config
    ``preprocess.neuralbench``); defaults = neuralbench's MEG/EEG ``image`` tasks."""

    SECTION: ClassVar[str] = "preprocess.neuralbench"
    sfreq: float = 120.0  # Hz after resampling
    l_freq: float = 0.1  # band-pass (Hz); 0 = no high-pass
    h_freq: float = 75.0
    notch: tuple[float, ...] = (50.0, 60.0)  # line frequencies, each with its harmonics
    notch_max: float = 300.0  # highest harmonic notched (neuralset: below 301 Hz)
    start: float = -0.2  # window start (s from image onset)
    duration: float = 1.0  # window length (s)
    baseline: tuple[float, float] = (0.0, 0.2)  # s from the window's start
    clamp: float = 20.0  # |value| limit after scaling and baseline
    drop_channels: tuple[str, ...] = (BAD_MEG_SENSOR,)  # THINGS-MEG1's broken sensor
    validation_fraction: float = 0.2  # training runs held out for early stopping
    split_seed: int = 33
    chunk_mb: float = 8.0

    def __post_init__(self) -> None:
        checks = [
            (self.sfreq > 0, f"sfreq = {self.sfreq}; expected > 0"),
            (
                0 <= self.l_freq < self.h_freq,
                f"expected 0 ≤ l_freq < h_freq, got {self.l_freq}, {self.h_freq}",
            ),
            (
                isinstance(self.notch, tuple) and all(f > 0 for f in self.notch),
                f"notch = {self.notch!r}; expected a list of frequencies > 0",
            ),
            (self.duration > 0 and self.n_samples >= 1, "duration: expected ≥ 1 sample"),
            (
                len(self.baseline) == 2
                and 0 <= self.baseline[0] < self.baseline[1] <= self.duration
                and self.baseline_samples[0] < self.baseline_samples[1],
                f"baseline = {self.baseline}; expected 0 ≤ b0 < b1 ≤ duration (s from the "
                "window's start) spanning at least one sample",
            ),
            (self.clamp > 0, f"clamp = {self.clamp}; expected > 0"),
            (
                0 < self.validation_fraction < 1,
                f"validation_fraction = {self.validation_fraction}; expected 0 < f < 1",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"{self.SECTION}: {message}")

    @property
    def n_samples(self) -> int:
        """Samples per window (neuralset's ``round(duration × sfreq)``: 120)."""
        return int(round(self.duration * self.sfreq))

    @property
    def baseline_samples(self) -> tuple[int, int]:
        """The baseline's sample range within a window ([0, 24) at the defaults)."""
        return int(round(self.baseline[0] * self.sfreq)), int(round(self.baseline[1] * self.sfreq))

    def times(self) -> np.ndarray:
        """The windows' sample times (s from onset): −0.2 … 0.791667 at the defaults."""
        return np.round(self.start + np.arange(self.n_samples) / self.sfreq, 6)

    def record(self) -> dict[str, Any]:
        """The settings as JSON-ready values (the store's ``preprocessing`` attribute)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return {
            "variant": "neuralbench",
            **out,
            "baseline_from_onset": [self.start + b for b in self.baseline],
            "scaler": "RobustScaler per channel, fitted on each whole recording after resampling",
            "steps": "notch, band-pass, resample, robust scaling, windows, baseline, clamp",
        }


def neuralbench_params(section: dict[str, Any] | None = None) -> NeuralbenchParams:
    """:class:`NeuralbenchParams` from a config section (missing keys keep the defaults)."""
    return dataclass_from_section(NeuralbenchParams, section, NeuralbenchParams.SECTION)


def notch_frequencies(bases: tuple[float, ...], sfreq: float, highest: float) -> list[float]:
    """Every harmonic ``k·f`` of the ``bases`` below Nyquist and at most ``highest``, sorted and
    without repeats (1000 Hz: 50, 60, 100, 120, … 300)."""
    found: set[float] = set()
    for base in bases:
        k = 1
        while k * base < sfreq / 2 and k * base <= highest:
            found.add(round(k * base, 9))
            k += 1
    return sorted(found)


def filter_recording(raw, params: NeuralbenchParams) -> None:
    """Notch then band-pass the loaded ``raw`` in place (steps 1–2)."""
    sfreq = float(raw.info["sfreq"])
    freqs = notch_frequencies(params.notch, sfreq, params.notch_max)
    if freqs:
        raw.notch_filter(freqs, phase="zero", filter_length="auto", verbose="error")
    h_freq = params.h_freq if params.h_freq < sfreq / 2 else None
    raw.filter(params.l_freq or None, h_freq, verbose="error")


def robust_scale(data: np.ndarray) -> np.ndarray:
    """(channels, samples) → each channel minus its median, divided by its IQR (float64)."""
    data = np.asarray(data, dtype=np.float64)
    q25, median, q75 = np.percentile(data, [25, 50, 75], axis=1, keepdims=True)
    iqr = q75 - q25
    iqr[iqr < 10 * np.finfo(np.float64).eps] = 1.0  # a constant channel is only centred
    return (data - median) / iqr


def window_starts(
    onsets: np.ndarray, n_total: int, params: NeuralbenchParams, source: Path | str
) -> np.ndarray:
    """First sample (at ``params.sfreq``) of each onset's window; every window must fit in the
    ``n_total`` samples of the recording."""
    onsets = np.asarray(onsets, dtype=np.float64)
    starts = np.rint((onsets + params.start) * params.sfreq).astype(np.int64)
    outside = (starts < 0) | (starts + params.n_samples > n_total)
    if outside.any():
        first = float(onsets[outside][0])
        raise DataError(
            f"{source}: {int(outside.sum())} of {len(onsets)} windows "
            f"({params.start}…{params.start + params.duration} s around the onsets) fall outside "
            f"the recording ({n_total / params.sfreq:.3f} s; first at onset {first:.3f} s); "
            "expected every window inside"
        )
    return starts


def cut_windows(scaled: np.ndarray, starts: np.ndarray, params: NeuralbenchParams) -> np.ndarray:
    """(trials, channels, samples) float32 windows of the scaled recording, baseline-corrected
    and clamped (steps 5–7), ``WINDOW_BATCH`` trials at a time."""
    n = params.n_samples
    b0, b1 = params.baseline_samples
    out = np.empty((len(starts), scaled.shape[0], n), dtype=np.float32)
    offsets = np.arange(n)
    for first in range(0, len(starts), WINDOW_BATCH):
        part = starts[first : first + WINDOW_BATCH]
        windows = scaled[:, part[:, None] + offsets].transpose(1, 0, 2)  # (trials, channels, n)
        windows = windows - windows[:, :, b0:b1].mean(axis=2, keepdims=True)
        np.clip(windows, -params.clamp, params.clamp, out=windows)
        out[first : first + len(part)] = windows
    return out


def preprocess_recording(
    raw, onsets: np.ndarray, params: NeuralbenchParams, source: Path | str
) -> np.ndarray:
    """All seven steps on one loaded recording (data channels only; changed in place); its
    windows (trials, channels, ``params.n_samples``) float32. ``onsets``: seconds from the
    recording's first sample."""
    if float(raw.info["sfreq"]) < params.sfreq:
        raise DataError(
            f"{source}: sampled at {raw.info['sfreq']} Hz; expected at least {params.sfreq} Hz "
            "(the windows' rate)"
        )
    filter_recording(raw, params)
    if float(raw.info["sfreq"]) != params.sfreq:
        raw.resample(params.sfreq, verbose="error")
    scaled = robust_scale(raw.get_data())
    starts = window_starts(onsets, scaled.shape[1], params, source)
    return cut_windows(scaled, starts, params)


def sensor_positions(info, modality: str, source: Path | str) -> tuple[np.ndarray, str]:
    """Positions (channels, 2 or 3) of ``info``'s channels and where they come from.

    EEG: the ``easycap-M1`` montage (3-D, metres, head frame; MNE's bundled file). MEG: the
    sensor locations stored in the recording (3-D, metres, device frame: a real CTF run has them),
    or, where the recording has none (the simulated FIF runs), MNE's CTF-275 layout (2-D)."""
    names = list(info["ch_names"])
    if modality == "eeg":
        try:
            return eeg_positions(names), f"montage {EEG_MONTAGE} (3-D, m, head frame)"
        except ValueError as err:
            raise DataError(f"{source}: {err}") from err
    locs = np.array([ch["loc"][:3] for ch in info["chs"]], dtype=np.float64)
    if np.isfinite(locs).all() and (np.abs(locs).sum(axis=1) > 0).all():
        return locs, "recording (3-D, m, device frame)"
    try:
        return layout_positions(names), "MNE CTF275 layout (2-D)"
    except KeyError as err:
        raise DataError(
            f"{source}: channel {err} has no stored location and is not in MNE's CTF275 layout"
        ) from err


def normalise_positions(positions: np.ndarray) -> np.ndarray:
    """Positions min–max scaled to [0, 1] along each axis (an axis without spread → 0.5)."""
    positions = np.asarray(positions, dtype=np.float64)
    low, high = positions.min(axis=0), positions.max(axis=0)
    spread = high - low
    out = np.full_like(positions, 0.5)
    moving = spread > 0
    out[:, moving] = (positions[:, moving] - low[moving]) / spread[moving]
    return out
