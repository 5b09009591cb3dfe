"""Epoching and baseline steps shared by the MEG and EEG preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bergforge.errors import DataError


def epoch_events(raw, events: np.ndarray, params, source: Path):
    """Preloaded ``mne.Epochs`` over ``params.tmin…params.tmax`` around every event, no baseline.

    Every epoch must lie inside the recording; a dropped one is a :class:`DataError`."""
    import mne

    epochs = mne.Epochs(
        raw,
        events,
        event_id=None,
        tmin=params.tmin,
        tmax=params.tmax,
        baseline=None,
        preload=True,
        verbose="error",
    )
    if len(epochs) != len(events):
        raise DataError(
            f"{source}: {len(events) - len(epochs)} of {len(events)} epochs fall outside the "
            f"recording ({params.tmin}…{params.tmax} s around the onsets); expected all inside"
        )
    return epochs


def apply_baseline(epochs, params) -> None:
    """``params.mode`` baseline over ``params.baseline``, in place on the epochs' own array."""
    import mne

    mne.baseline.rescale(
        epochs.get_data(copy=False),
        epochs.times,
        params.baseline,
        mode=params.mode,
        copy=False,
        verbose="error",
    )
