"""THINGS-MEG1 raw runs → prepared store (THINGS-data step1 recipe, one run at a time).

Per run: drop the bad sensor, photodiode-corrected events, band-pass, epochs of every non-catch
trial, baseline (z-score against the pre-stimulus window by default), decimate to 200 Hz.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge import __version__
from bergforge.datasets import things_meg
from bergforge.datasets.sensors import sensor_metadata
from bergforge.errors import DataError
from bergforge.preprocess.epoching import apply_baseline, epoch_events
from bergforge.preprocess.params import MegParams, as_record
from bergforge.preprocess.stimuli import stimulus_table
from bergforge.preprocess.store import (
    EpochBlock,
    EpochStaging,
    atomic_store,
    write_attributes,
    write_split_arrays,
)

log = logging.getLogger(__name__)


def decimation_factor(sfreq: float, target: float, source: Path) -> int:
    """The integer factor from ``sfreq`` to ``target`` Hz (THINGS-MEG1: 1200 → 200 = 6)."""
    factor = sfreq / target
    if abs(factor - round(factor)) > 1e-9 or factor < 1:
        raise DataError(
            f"{source}: sampling rate {sfreq} Hz is not an integer multiple of {target} Hz"
        )
    return int(round(factor))


def preprocess_run(
    raw, events: np.ndarray, params: MegParams, source: Path, dropout: float | None = None
):
    """Preprocessed epochs (``mne.Epochs``) of one run's non-catch ``events``.

    ``raw`` may be unloaded: only the kept sensors are loaded (in place), so memory holds one
    copy of the run's MEG signal plus the filter's work space. ``dropout``: onset (s) of a known
    signal dropout, patched with the channel medians before filtering (THINGS-data step1)."""

    raw.drop_channels([c for c in params.drop_channels if c in raw.ch_names])
    raw.pick("mag")
    things_meg.load_signal(raw, source)
    if dropout is not None:
        log.info("%s: patching the known signal dropout at %.1f s", source, dropout)
        things_meg.patch_dropout(raw, dropout)
    if not len(raw.ch_names):
        raise DataError(f"{source}: no MEG sensors (channel type 'mag') in the run")
    decim = decimation_factor(raw.info["sfreq"], params.sfreq, source)
    raw.filter(params.l_freq, params.h_freq, verbose="error")
    epochs = epoch_events(raw, events, params, source)
    apply_baseline(epochs, params)  # in place, then keep every decim-th sample
    return epochs.decimate(decim, verbose="error")


def shown_images(
    table: pd.DataFrame, code_to_row: pd.DataFrame, events_path: Path
) -> tuple[np.ndarray, pd.DataFrame]:
    """The non-catch rows of a run's events table (bool mask) and their images' rows of
    ``code_to_row`` (the stimulus table indexed by image number, with a ``split`` column);
    an unknown image number or a ``trial_type`` that disagrees with the image's split is a
    :class:`DataError` naming the events table."""
    shown = (table.trial_type != "catch").to_numpy()
    codes = table.loc[shown, "value"].astype(np.int64).to_numpy()
    unknown = sorted(int(c) for c in set(codes) - set(code_to_row.index))
    if unknown:
        raise DataError(
            f"{events_path}: image number(s) {unknown[:5]} are not in images/image_paths.tsv"
        )
    rows = code_to_row.loc[codes]
    expected = table.loc[shown, "trial_type"].map({"exp": "train", "test": "test"}).to_numpy()
    if (rows.split.to_numpy() != expected).any():
        raise DataError(f"{events_path}: trial_type disagrees with the image table's split")
    return shown, rows


def run_block(run: things_meg.MegRun, code_to_row: pd.DataFrame, params: MegParams) -> EpochBlock:
    """Read and preprocess one run; its epochs with their split and array row."""
    table = things_meg.read_events(run.events)
    raw = things_meg.read_run(run.data, preload=False)
    events = things_meg.onset_events(raw, table, run.events)
    shown, rows = shown_images(table, code_to_row, run.events)
    epochs = preprocess_run(raw, events[shown], params, run.data, run.dropout)
    del raw
    return EpochBlock(
        data=epochs.get_data(copy=False).astype(np.float32),
        split=rows.split.to_numpy(),
        index=rows["index"].to_numpy(),
        channels=list(epochs.ch_names),
        times=epochs.times,
        session=run.session,
        run=run.run,
        source=str(run.data),
    )


def prepare_subject(
    raw_dir: Path,
    subject: int,
    out: Path,
    params: MegParams,
    n_sessions: int = things_meg.N_SESSIONS,
    runs_per_session: int = things_meg.RUNS_PER_SESSION,
    dataset: str = "",
) -> dict[str, int]:
    """Write ``sub-{subject}.zarr`` from the raw runs; returns repetitions per split."""
    stimuli = stimulus_table("things_meg1", raw_dir)
    code_to_row = stimuli.set_index("code")[["split", "index"]]
    runs = things_meg.find_runs(raw_dir, subject, n_sessions, runs_per_session)
    n_images = stimuli.split.value_counts().reindex(["train", "test"], fill_value=0).to_dict()
    with atomic_store(out) as (group, staging_dir):
        staging = EpochStaging(staging_dir)
        for run in runs:
            log.info("subject %d: preprocessing %s", subject, run.data)
            staging.add(run_block(run, code_to_row, params))
        n_reps = write_split_arrays(group, staging, n_images, {}, params.chunk_mb)
        write_attributes(group, meg_attributes(staging, subject, dataset, params, "raw runs"))
    log.info("subject %d: wrote %s (repetitions %s)", subject, out, n_reps)
    return n_reps


def meg_attributes(staging, subject: int, dataset: str, params: MegParams, source: str) -> dict:
    """Group attributes of a prepared MEG store (see docs/interfaces.md)."""
    meta = sensor_metadata(staging.channels)
    return {
        "modality": "meg",
        "dataset": dataset,
        "subject": subject,
        "dims": ["image", "repetition", "channel", "time"],
        "channels": staging.channels,
        "ch_type": "mag",
        "times": np.round(staging.times, 6),
        "sfreq": params.sfreq,
        "baseline_mode": params.mode,
        "preprocessing": {**as_record(params), "source": source},
        "bergforge_version": __version__,
        "sensor_prefixes": meta["sensor_prefixes"],
        "sensor_hemispheres": meta["sensor_hemispheres"],
        "sensor_regions": meta["sensor_regions"],
    }
