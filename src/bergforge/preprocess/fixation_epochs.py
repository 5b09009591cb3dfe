"""Fixation-onset epochs of a continuous free-viewing recording, into the trial-indexed store.

One trial = one fixation of the canonical fixation table
(:func:`bergforge.datasets.avs_fixations.read_fixation_table`), in the table's order. The 204
planar gradiometers (TRIUX names, :func:`bergforge.datasets.sensors.triux_gradiometer_names`)
are cut from ``tmin`` to ``tmax`` (default −0.1…0.5 s, 301 samples at AVS's 500 Hz) around each
fixation onset, sample ``round(onset · sfreq)`` from the recording's first sample, as
``mne.Epochs`` cuts them (``round(tmin · sfreq)`` samples before the event,
``round((tmax − tmin) · sfreq) + 1`` samples long).

Baseline: none by default. In free viewing the 100 ms before a fixation hold the saccade and
the tail of the previous fixation's response, so subtracting them would mix responses; AVS's
preprocessing (tSSS, 0.2–200 Hz band-pass, ICA) already removes slow drifts. ``baseline=(a, b)``
subtracts each channel's mean over ``a…b`` s as ``mne.Epochs`` does, for comparison.

The recording is read in blocks of consecutive fixations (``block`` epochs at a time), so a
subject's ~40,000 epochs × 204 × 301 (~10 GB as float32) never sit in memory at once; the store
is written by :func:`bergforge.preprocess.trials_store.write_trial_store`. An epoch that leaves
the recording, or a recording without the 204 gradiometers, is one :class:`DataError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.datasets.sensors import triux_gradiometer_names
from bergforge.errors import DataError
from bergforge.preprocess.trials_store import write_trial_store

#: The canonical fixation columns kept in the store's trial table, beside the required ones
FIXATION_COLUMNS = (
    "scene",
    "trial",
    "fixation",
    "duration",
    "x",
    "y",
    "next_x",
    "next_y",
    "has_next",
)


@dataclass(frozen=True)
class FixationEpochParams:
    """The epoch window (s from fixation onset) and the optional baseline interval."""

    tmin: float = -0.1
    tmax: float = 0.5
    baseline: tuple[float, float] | None = None

    def samples(self, sfreq: float) -> tuple[int, int]:
        """(offset of the first sample from the event, number of samples), as ``mne.Epochs``."""
        return int(round(self.tmin * sfreq)), int(round((self.tmax - self.tmin) * sfreq)) + 1

    def times(self, sfreq: float) -> np.ndarray:
        first, n = self.samples(sfreq)
        return (first + np.arange(n)) / sfreq


def onset_samples(table: pd.DataFrame, sfreq: float) -> np.ndarray:
    """Sample of each fixation onset from the recording's first sample."""
    return np.round(table["onset"].to_numpy(dtype=float) * sfreq).astype(np.int64)


def gradiometer_picks(raw: Any, source: str) -> np.ndarray:
    """Indices of the 204 TRIUX gradiometers in ``raw``, in the canonical name order."""
    names = triux_gradiometer_names()
    index = {n: i for i, n in enumerate(raw.ch_names)}
    missing = [n for n in names if n not in index]
    if missing:
        raise DataError(
            f"{source}: lacks {len(missing)} of the 204 TRIUX gradiometers (first {missing[:3]}); "
            "expected channels named MEG0112, MEG0113, …"
        )
    return np.array([index[n] for n in names])


def fixation_epoch_blocks(
    raw: Any,
    table: pd.DataFrame,
    params: FixationEpochParams,
    block: int = 256,
    source: str = "recording",
) -> Iterator[np.ndarray]:
    """Epochs ``(n, 204, n_times)`` (float64, volts per metre) of consecutive table rows, ``block``
    at a time, in table order."""
    sfreq = float(raw.info["sfreq"])
    picks = gradiometer_picks(raw, source)
    first, n_times = params.samples(sfreq)
    starts = onset_samples(table, sfreq) + first
    bad = (starts < 0) | (starts + n_times > raw.n_times)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: the epoch of fixation row {row} (onset {table['onset'].iat[row]:.3f} s, "
            f"window {params.tmin}…{params.tmax} s) leaves the recording of "
            f"{raw.n_times / sfreq:.3f} s; expected every epoch inside it"
        )
    times = params.times(sfreq)
    if params.baseline is not None:
        a, b = params.baseline
        in_base = (times >= a - 1e-9) & (times <= b + 1e-9)
        if not in_base.any():
            raise DataError(f"{source}: baseline {params.baseline} holds no sample of the window")
    for lo in range(0, len(starts), block):
        part = starts[lo : lo + block]
        span = raw.get_data(picks=picks, start=int(part.min()), stop=int(part.max()) + n_times)
        rel = part - part.min()
        epochs = np.stack([span[:, r : r + n_times] for r in rel])
        if params.baseline is not None:
            epochs -= epochs[:, :, in_base].mean(axis=2, keepdims=True)
        yield epochs


def store_table(
    table: pd.DataFrame, subject: int, split: str | pd.Series = "train"
) -> pd.DataFrame:
    """The store's trial table: the required columns (``image`` = the scene's NSD id as text,
    ``run`` = 1) then the canonical fixation columns."""
    out = pd.DataFrame(
        {
            "subject": np.full(len(table), int(subject), dtype=np.int64),
            "session": table["session"].to_numpy(dtype=np.int64),
            "run": np.ones(len(table), dtype=np.int64),
            "image": [str(int(s)) for s in table["scene"]],
            "split": split if isinstance(split, pd.Series) else [split] * len(table),
            "onset": table["onset"].to_numpy(dtype=float),
        }
    )
    for column in FIXATION_COLUMNS:
        out[column] = table[column].to_numpy()
    out["split"] = out["split"].astype(object)
    return out


def write_fixation_store(
    path: Path | str,
    raw: Any,
    table: pd.DataFrame,
    *,
    subject: int,
    dataset: str,
    params: FixationEpochParams = FixationEpochParams(),
    split: str | pd.Series = "train",
    block: int = 256,
    source: str = "recording",
) -> Path:
    """Cut the fixation-onset epochs of ``raw`` and write the trial-indexed store ``path``."""
    sfreq = float(raw.info["sfreq"])
    return write_trial_store(
        path,
        store_table(table, subject, split),
        fixation_epoch_blocks(raw, table, params, block, source),
        modality="meg",
        dataset=dataset,
        subject=subject,
        dims=["trial", "channel", "time"],
        coords={"channel": triux_gradiometer_names(), "time": params.times(sfreq).tolist()},
        sampling_period=1.0 / sfreq,
        preprocessing={
            "epochs": "fixation onset",
            "tmin": params.tmin,
            "tmax": params.tmax,
            "baseline": None if params.baseline is None else list(params.baseline),
            "sfreq": sfreq,
        },
    )
