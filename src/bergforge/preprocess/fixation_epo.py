"""Published fixation-onset epochs (an ``-epo.fif``, as AVS distributes them) into the trial store.

The epochs' metadata must carry the ids of each epoch (``id_columns``: canonical name → metadata
column, by default ``trial`` and ``fixation``); the fixation table
(:func:`bergforge.datasets.avs_fixations.read_fixation_table`) must list the same fixations in
the same order (:func:`bergforge.datasets.avs_fixations.check_against_epochs`): neither side is
ever reordered. The 204 TRIUX gradiometers are read ``block`` epochs at a time (the file is opened
without preloading), so a subject's epochs never sit in memory at once; the times are the file's
(AVS: fixation onset, 500 Hz). Written by
:func:`bergforge.preprocess.trials_store.write_trial_store` with the same trial table as the
continuous route (:func:`bergforge.preprocess.fixation_epochs.store_table`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.datasets.avs_fixations import EPOCH_KEYS, check_against_epochs
from bergforge.datasets.sensors import triux_gradiometer_names
from bergforge.errors import DataError
from bergforge.preprocess.fixation_epochs import gradiometer_picks, store_table
from bergforge.preprocess.trials_store import write_trial_store


def epoch_ids(epochs: Any, id_columns: Mapping[str, str], source: str) -> pd.DataFrame:
    """The epochs' ids in canonical names, one row per epoch in file order."""
    metadata = epochs.metadata
    if metadata is None:
        raise DataError(
            f"{source}: the epochs have no metadata; expected columns {dict(id_columns)}"
        )
    missing = [m for m in id_columns.values() if m not in metadata.columns]
    if missing:
        raise DataError(
            f"{source}: epochs metadata lacks {missing}; it has {list(map(str, metadata.columns))}"
        )
    return pd.DataFrame({c: metadata[m].to_numpy() for c, m in id_columns.items()})


def _blocks(epochs: Any, picks: np.ndarray, block: int) -> Iterator[np.ndarray]:
    for lo in range(0, len(epochs), block):
        yield epochs.get_data(picks=picks, item=slice(lo, lo + block))


def write_epochs_store(
    path: Path | str,
    epochs_file: Path | str,
    table: pd.DataFrame,
    *,
    subject: int,
    dataset: str,
    id_columns: Mapping[str, str] | None = None,
    split: str | pd.Series = "train",
    block: int = 256,
) -> Path:
    """Check ``epochs_file`` against the fixation table and write the trial-indexed store."""
    import mne

    source = f"epochs {epochs_file}"
    epochs = mne.read_epochs(epochs_file, preload=False, verbose="error")
    ids = epoch_ids(epochs, id_columns or {k: k for k in EPOCH_KEYS}, source)
    check_against_epochs(table, ids, source, keys=list(ids.columns))
    picks = gradiometer_picks(epochs, source)
    sfreq = float(epochs.info["sfreq"])
    return write_trial_store(
        path,
        store_table(table, subject, split),
        _blocks(epochs, picks, block),
        modality="meg",
        dataset=dataset,
        subject=subject,
        dims=["trial", "channel", "time"],
        coords={"channel": triux_gradiometer_names(), "time": epochs.times.tolist()},
        sampling_period=1.0 / sfreq,
        preprocessing={
            "epochs": "fixation onset (published -epo.fif)",
            "tmin": float(epochs.tmin),
            "tmax": float(epochs.tmax),
            "baseline": None if epochs.baseline is None else list(epochs.baseline),
            "sfreq": sfreq,
        },
    )
