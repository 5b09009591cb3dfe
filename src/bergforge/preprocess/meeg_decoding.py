"""THINGS-MEG1 runs / THINGS-EEG2 session partitions → the neuralbench-style decoding windows of
one subject, in the trial-indexed prepared store (``docs/interfaces.md``).

One recording at a time (a MEG run; an EEG session's training or test partition): its image
onsets are decoded with the encoding route's readers (photodiode-corrected ``UPPT001`` events and
the events table for MEG, the ``stim`` row without target trials for EEG), the recording is
preprocessed (:mod:`bergforge.preprocess.meeg_windows`) and its windows are staged to a ``.npy``
file beside the store. When every recording is staged, the trial table gets its decoding split
(:func:`bergforge.preprocess.decoding_split.decoding_split`: test = the test images' trials,
validation = the training trials of ``validation_fraction`` of the training timelines, seed
``split_seed``) and the windows are streamed into the store with
:func:`bergforge.preprocess.trials_store.write_trial_store`. Peak memory: one recording.

Trial table: ``subject``, ``session``, ``run``, ``image`` (the stimulus table's ``image_id``),
``split``, ``onset`` (s from the recording's start) and ``code`` (THINGS image number for MEG,
condition code within the split for EEG). A timeline is a MEG run, or an EEG session partition
(``run`` 1 = training, 2 = test, as neuralbench's ``Gifford2022Large`` timelines are subject ×
session × split). The store's ``preprocessing`` attribute holds the settings
(:meth:`NeuralbenchParams.record`), the channel type and the sensor positions (raw and
normalised to [0, 1]) the decoder's spatial attention needs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.atomic import scratch_folder
from bergforge.datasets import things_eeg2, things_meg
from bergforge.errors import DataError
from bergforge.preprocess.decoding_split import decoding_split
from bergforge.preprocess.eeg import SPLIT_OF_PARTITION, check_codes, trial_events
from bergforge.preprocess.meeg_windows import (
    NeuralbenchParams,
    neuralbench_params,
    normalise_positions,
    notch_frequencies,
    preprocess_recording,
    sensor_positions,
)
from bergforge.preprocess.meg import shown_images
from bergforge.preprocess.stimuli import stimulus_table
from bergforge.preprocess.trials_store import write_trial_store

log = logging.getLogger(__name__)

#: ``run`` of an EEG session's partitions in the trial table
RUN_OF_PARTITION = {"training": 1, "test": 2}


@dataclass
class RecordingWindows:
    """The windows of one recording and their rows of the trial table."""

    trials: pd.DataFrame  # subject, session, run, image, split (train/test), onset, code
    windows: np.ndarray  # (trials, channels, samples) float32
    channels: list[str]
    positions: np.ndarray  # (channels, 2 or 3)
    positions_source: str
    sfreq: float  # the recording's own rate (before resampling)
    source: Path


def things_meg1_recordings(
    raw_dir: Path,
    subject: int,
    params: NeuralbenchParams,
    n_sessions: int = things_meg.N_SESSIONS,
    runs_per_session: int = things_meg.RUNS_PER_SESSION,
) -> Iterator[RecordingWindows]:
    """The windows of every non-catch trial of a THINGS-MEG1 subject, run by run."""
    stimuli = stimulus_table("things_meg1", raw_dir)
    code_to_row = stimuli.set_index("code")[["split", "image_id"]]
    for run in things_meg.find_runs(raw_dir, subject, n_sessions, runs_per_session):
        log.info("subject %d: decoding windows of %s", subject, run.data)
        table = things_meg.read_events(run.events)
        raw = things_meg.read_run(run.data, preload=False)
        events = things_meg.onset_events(raw, table, run.events)
        shown, rows = shown_images(table, code_to_row, run.events)
        raw.drop_channels([c for c in params.drop_channels if c in raw.ch_names])
        raw.pick("mag")
        if not len(raw.ch_names):
            raise DataError(f"{run.data}: no MEG sensors (channel type 'mag') in the run")
        things_meg.load_signal(raw, run.data)
        if run.dropout is not None:
            things_meg.patch_dropout(raw, run.dropout)
        positions, where = sensor_positions(raw.info, "meg", run.data)
        sfreq = float(raw.info["sfreq"])
        onsets = (events[shown, 0] - raw.first_samp) / sfreq
        windows = preprocess_recording(raw, onsets, params, run.data)
        trials = pd.DataFrame(
            {
                "subject": subject,
                "session": run.session,
                "run": run.run,
                "image": rows.image_id.to_numpy(),
                "split": rows.split.to_numpy(),
                "onset": onsets,
                "code": rows.index.to_numpy(dtype=np.int64),
            }
        )
        yield RecordingWindows(
            trials, windows, list(raw.ch_names), positions, where, sfreq, run.data
        )


def things_eeg2_recordings(
    raw_dir: Path,
    subject: int,
    params: NeuralbenchParams,
    n_sessions: int = things_eeg2.N_SESSIONS,
) -> Iterator[RecordingWindows]:
    """The windows of every non-target trial of a THINGS-EEG2 subject, partition by partition."""
    stimuli = stimulus_table("things_eeg2", raw_dir)
    image_of = {
        s: stimuli[stimuli.split == s].set_index("code")["image_id"] for s in ("train", "test")
    }
    for part in things_eeg2.find_partitions(raw_dir, subject, n_sessions):
        log.info("subject %d: decoding windows of %s", subject, part.path)
        split = SPLIT_OF_PARTITION[part.partition]
        raw = things_eeg2.read_partition(part.path)
        events = trial_events(raw, part.path)
        check_codes(events, image_of[split].index, split, part.path)
        raw.pick(["eeg"])
        positions, where = sensor_positions(raw.info, "eeg", part.path)
        sfreq = float(raw.info["sfreq"])
        onsets = (events[:, 0] - raw.first_samp) / sfreq
        windows = preprocess_recording(raw, onsets, params, part.path)
        trials = pd.DataFrame(
            {
                "subject": subject,
                "session": part.session,
                "run": RUN_OF_PARTITION[part.partition],
                "image": image_of[split].loc[events[:, 2]].to_numpy(),
                "split": split,
                "onset": onsets,
                "code": events[:, 2].astype(np.int64),
            }
        )
        yield RecordingWindows(
            trials, windows, list(raw.ch_names), positions, where, sfreq, part.path
        )


def write_decoding_store(
    recordings: Iterator[RecordingWindows],
    out: Path,
    *,
    modality: str,
    dataset: str,
    subject: int,
    params: NeuralbenchParams,
) -> Path:
    """Stage every recording's windows, split the trials and write the store ``out``."""
    out = Path(out)
    with scratch_folder(out.with_name(out.name + ".windows")) as folder:
        files: list[Path] = []
        tables: list[pd.DataFrame] = []
        first: RecordingWindows | None = None  # its metadata; its windows are dropped once staged
        for rec in recordings:
            if first is not None and rec.channels != first.channels:
                raise DataError(
                    f"{rec.source}: channels differ from those of {first.source} "
                    f"({len(rec.channels)} vs {len(first.channels)}); expected the same set"
                )
            files.append(folder / f"recording-{len(files):05d}.npy")
            np.save(files[-1], rec.windows)
            tables.append(rec.trials)
            rec.windows = rec.windows[:0]
            first = first or rec
        if first is None:
            raise DataError(f"{out}: no recording to prepare")
        table = pd.concat(tables, ignore_index=True)
        test_images = table.image[table.split == "test"].unique()
        table["split"] = decoding_split(
            table, test_images, params.validation_fraction, params.split_seed
        )
        preprocessing = {
            **params.record(),
            "source": "raw runs" if modality == "meg" else "raw session dicts",
            "channel_type": "mag" if modality == "meg" else "eeg",
            "recording_sfreq": first.sfreq,
            "notch_frequencies": notch_frequencies(params.notch, first.sfreq, params.notch_max),
            "sensor_positions": np.round(first.positions, 7).tolist(),
            "sensor_positions_normalised": normalise_positions(first.positions).tolist(),
            "sensor_positions_source": first.positions_source,
        }
        return write_trial_store(
            out,
            table,
            (np.load(f, mmap_mode="r") for f in files),
            modality=modality,
            dataset=dataset,
            subject=subject,
            dims=["trial", "channel", "time"],
            coords={"channel": first.channels, "time": params.times().tolist()},
            sampling_period=1.0 / params.sfreq,
            preprocessing=preprocessing,
            chunk_mb=params.chunk_mb,
        )


def prepare_things_meg1_decoding(
    raw_dir: Path,
    subject: int,
    out: Path,
    params: NeuralbenchParams,
    n_sessions: int = things_meg.N_SESSIONS,
    runs_per_session: int = things_meg.RUNS_PER_SESSION,
    dataset: str = "",
) -> Path:
    """Write the neuralbench-style decoding store ``out`` of a THINGS-MEG1 subject."""
    recordings = things_meg1_recordings(raw_dir, subject, params, n_sessions, runs_per_session)
    return write_decoding_store(
        recordings, out, modality="meg", dataset=dataset, subject=subject, params=params
    )


def prepare_things_eeg2_decoding(
    raw_dir: Path,
    subject: int,
    out: Path,
    params: NeuralbenchParams,
    n_sessions: int = things_eeg2.N_SESSIONS,
    dataset: str = "",
) -> Path:
    """Write the neuralbench-style decoding store ``out`` of a THINGS-EEG2 subject."""
    recordings = things_eeg2_recordings(raw_dir, subject, params, n_sessions)
    return write_decoding_store(
        recordings, out, modality="eeg", dataset=dataset, subject=subject, params=params
    )


def prepare_decoding_job(
    fmt: str,
    raw_dir: Path,
    subject: int,
    out: Path,
    section: dict[str, Any] | None,
    design: dict[str, int],
    dataset: str = "",
) -> Path:
    """Rule ``meeg_decoding_windows``: the store ``out`` of one subject of a ``things_meg1`` or
    ``things_eeg2`` dataset with ``preprocess: {variant: neuralbench, …}`` (``section``: the
    keys besides ``variant``; ``design``: ``n_sessions`` and, for MEG, ``runs_per_session``)."""
    params = neuralbench_params(section)
    if fmt == "things_meg1":
        return prepare_things_meg1_decoding(
            raw_dir,
            subject,
            out,
            params,
            n_sessions=design["n_sessions"],
            runs_per_session=design["runs_per_session"],
            dataset=dataset,
        )
    if fmt == "things_eeg2":
        return prepare_things_eeg2_decoding(
            raw_dir, subject, out, params, n_sessions=design["n_sessions"], dataset=dataset
        )
    raise DataError(f"{dataset}: format {fmt!r} has no neuralbench decoding variant")
