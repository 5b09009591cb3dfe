"""THINGS-MEG1 published preprocessed epochs → prepared store, read in chunks of epochs.

``preprocessed_P{n}-epo.fif`` (and its split parts) is opened with ``preload=False``; only
``chunk_epochs`` epochs are in memory at a time. Catch epochs are skipped; ``exp`` epochs are
training images, ``test`` epochs are grouped by image. The signal is stored as published (it is
already filtered, baseline-corrected and decimated), minus any sensor in ``drop_channels``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bergforge.datasets import things_meg
from bergforge.errors import DataError
from bergforge.preprocess.meg import meg_attributes
from bergforge.preprocess.params import MegParams
from bergforge.preprocess.stimuli import stimulus_table
from bergforge.preprocess.store import (
    EpochBlock,
    EpochStaging,
    atomic_store,
    write_attributes,
    write_split_arrays,
)

log = logging.getLogger(__name__)
SPLIT_OF_TRIAL = {"exp": "train", "test": "test"}


def _int_column(meta, name: str, rows: np.ndarray) -> np.ndarray:
    if name not in meta.columns:
        return np.full(len(rows), -1)
    return meta[name].to_numpy()[rows].astype(np.int64)


def prepare_subject_from_epochs(
    epochs_path: Path,
    raw_dir: Path,
    subject: int,
    out: Path,
    params: MegParams,
    chunk_epochs: int = 1000,
    dataset: str = "",
) -> dict[str, int]:
    """Write ``sub-{subject}.zarr`` from the published epochs; returns repetitions per split."""
    epochs = things_meg.read_published_epochs(epochs_path)
    meta = epochs.metadata
    shown = np.flatnonzero(meta.trial_type.isin(list(SPLIT_OF_TRIAL)).to_numpy())
    codes = epochs.events[shown, 2]
    stimuli = stimulus_table("things_meg1", raw_dir)
    code_to_row = stimuli.set_index("code")
    unknown = sorted(int(c) for c in set(codes) - set(code_to_row.index))
    if unknown:
        raise DataError(f"{epochs_path}: image number(s) {unknown[:5]} are not in the image table")
    rows = code_to_row.loc[codes]
    expected = meta.trial_type.to_numpy()[shown]
    if (rows.split.to_numpy() != np.vectorize(SPLIT_OF_TRIAL.get)(expected)).any():
        raise DataError(f"{epochs_path}: trial_type disagrees with the image table's split")
    picks = [c for c in epochs.ch_names if c not in params.drop_channels]
    sessions = _int_column(meta, "session_nr", shown)
    runs = _int_column(meta, "run_nr", shown)
    n_images = {s: int((stimuli.split == s).sum()) for s in ("train", "test")}
    with atomic_store(out) as (group, staging_dir):
        staging = EpochStaging(staging_dir)
        for start in range(0, len(shown), chunk_epochs):
            part = slice(start, start + chunk_epochs)
            try:
                data = epochs[shown[part]].get_data(picks=picks)
            except Exception as err:
                raise DataError(
                    f"{epochs_path}: cannot read epochs {start}…{start + len(shown[part])} "
                    f"({type(err).__name__}: {err})"
                ) from err
            staging.add(
                EpochBlock(
                    data=data.astype(np.float32),
                    split=rows.split.to_numpy()[part],
                    index=rows["index"].to_numpy()[part],
                    channels=picks,
                    times=epochs.times,
                    session=sessions[part],
                    run=runs[part],
                    source=str(epochs_path),
                )
            )
            log.info(
                "subject %d: staged epochs up to %d of %d",
                subject,
                start + chunk_epochs,
                len(shown),
            )
        n_reps = write_split_arrays(group, staging, n_images, {}, params.chunk_mb)
        attrs = meg_attributes(staging, subject, dataset, params, "published epochs")
        attrs["sfreq"] = float(epochs.info["sfreq"])
        attrs["preprocessing"]["epochs_file"] = Path(epochs_path).name
        write_attributes(group, attrs)
    return n_reps
