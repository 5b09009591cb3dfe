"""THINGS-EEG2 raw session dicts → prepared store (BERG's recipe, one session partition at a time).

Per partition: RawArray, montage, band-pass, epochs of every non-target trial, current source
density, resample to 200 Hz, baseline (pre-stimulus mean by default). Repetitions are numbered in
recording order (sessions in order); at most ``train_reps`` per training image are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bergforge import __version__
from bergforge.datasets import things_eeg2
from bergforge.datasets.sensors import EEG_TARGET_CODE
from bergforge.errors import DataError
from bergforge.preprocess.epoching import apply_baseline, epoch_events
from bergforge.preprocess.params import EegParams, as_record
from bergforge.preprocess.stimuli import stimulus_table
from bergforge.preprocess.store import (
    EpochBlock,
    EpochStaging,
    atomic_store,
    write_attributes,
    write_split_arrays,
)

log = logging.getLogger(__name__)
SPLIT_OF_PARTITION = {"training": "train", "test": "test"}


def trial_events(raw, source: Path) -> np.ndarray:
    """Image onsets on the ``stim`` channel, target trials (99999) removed."""
    import mne

    events = mne.find_events(raw, stim_channel="stim", shortest_event=1, verbose="error")
    events = events[events[:, 2] != EEG_TARGET_CODE]
    if not len(events):
        raise DataError(f"{source}: no image events on the 'stim' channel")
    return events


def check_codes(events: np.ndarray, known, split: str, source: Path) -> None:
    """Every condition code of ``events`` is one of the ``known`` codes of ``split``'s images;
    otherwise one :class:`DataError` naming ``source``."""
    unknown = sorted(int(c) for c in set(events[:, 2]) - set(known))
    if unknown:
        raise DataError(
            f"{source}: condition code(s) {unknown[:5]} are not in the {split} image metadata"
        )


def prepare_raw(raw, params: EegParams, source: Path) -> None:
    """Keep the EEG channels, give them montage positions and band-pass them (in place)."""
    raw.pick(["eeg"])
    try:
        raw.set_montage(params.montage, verbose="error")
    except ValueError as err:
        raise DataError(f"{source}: channels lack {params.montage} positions ({err})") from err
    raw.filter(params.l_freq, params.h_freq, verbose="error")


def preprocess_epochs(raw, events: np.ndarray, params: EegParams, source: Path):
    """CSD epochs at ``params.sfreq`` with baseline of ``events`` in a prepared ``raw``."""
    import mne

    epochs = epoch_events(raw, events, params, source)
    epochs = mne.preprocessing.compute_current_source_density(
        epochs, lambda2=params.csd_lambda2, stiffness=params.csd_stiffness, verbose="error"
    )
    epochs.resample(params.sfreq, verbose="error")
    apply_baseline(epochs, params)
    return epochs


def partition_blocks(
    part: things_eeg2.EegPartition, code_to_row: dict, params: EegParams
) -> Iterator[EpochBlock]:
    """Read one session partition and yield its preprocessed epochs ``epoch_batch`` at a time.

    Memory holds the continuous partition plus one batch of epochs (the real training
    partitions have about 20,000 trials: 7 GB as one float64 batch)."""
    split = SPLIT_OF_PARTITION[part.partition]
    raw = things_eeg2.read_partition(part.path)
    events = trial_events(raw, part.path)
    rows = code_to_row[split]
    check_codes(events, rows.index, split, part.path)
    prepare_raw(raw, params, part.path)
    for start in range(0, len(events), params.epoch_batch):
        batch = events[start : start + params.epoch_batch]
        epochs = preprocess_epochs(raw, batch, params, part.path)
        yield EpochBlock(
            data=epochs.get_data(copy=False).astype(np.float32),
            split=np.full(len(epochs), split),
            index=rows.loc[epochs.events[:, 2]].to_numpy(),
            channels=list(epochs.ch_names),
            times=epochs.times,
            session=part.session,
            source=str(part.path),
        )
        del epochs


def prepare_subject(
    raw_dir: Path,
    subject: int,
    out: Path,
    params: EegParams,
    n_sessions: int = things_eeg2.N_SESSIONS,
    dataset: str = "",
) -> dict[str, int]:
    """Write ``sub-{subject}.zarr`` from the raw session dicts; returns repetitions per split."""
    stimuli = stimulus_table("things_eeg2", raw_dir)
    code_to_row = {
        s: stimuli[stimuli.split == s].set_index("code")["index"] for s in ("train", "test")
    }
    parts = things_eeg2.find_partitions(raw_dir, subject, n_sessions)
    n_images = {s: int((stimuli.split == s).sum()) for s in ("train", "test")}
    with atomic_store(out) as (group, staging_dir):
        staging = EpochStaging(staging_dir)
        for part in parts:
            log.info("subject %d: preprocessing %s", subject, part.path)
            for block in partition_blocks(part, code_to_row, params):
                staging.add(block)
        caps = {"train": params.train_reps, "test": params.test_reps}
        n_reps = write_split_arrays(group, staging, n_images, caps, params.chunk_mb)
        write_attributes(
            group,
            {
                "modality": "eeg",
                "dataset": dataset,
                "subject": subject,
                "dims": ["image", "repetition", "channel", "time"],
                "channels": staging.channels,
                "ch_type": "csd",
                "times": np.round(staging.times, 6),
                "sfreq": params.sfreq,
                "baseline_mode": params.mode,
                "preprocessing": {**as_record(params), "source": "raw session dicts"},
                "bergforge_version": __version__,
            },
        )
    log.info("subject %d: wrote %s (repetitions %s)", subject, out, n_reps)
    return n_reps
