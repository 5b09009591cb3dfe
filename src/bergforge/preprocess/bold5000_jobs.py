"""The two preprocessing jobs of a BOLD5000 dataset (rules ``bold5000_trials`` and
``bold5000_windows``), as plain functions of the raw tree (ds001499's layout under
``resources/raw/{dataset}/``).

- :func:`write_trials_job` (once per dataset): every subject's trial table from its
  ``events.tsv`` files, the task's split over the whole study (test = every trial of a repeated
  image; validation = the training trials of 20 % of the training runs, chosen by run with seed 33
  among every subject's runs, as neuralbench does; :mod:`~bergforge.preprocess.decoding_split`),
  written as ``trials.tsv``, and ``stimuli.tsv`` (one row per image) for the features stage. Every
  image file must be in the stimulus tree: a missing one is one error, and neither file is written.
- :func:`prepare_windows_job` (once per subject): the subject's rows of ``trials.tsv``, its
  ``sphere.reg`` projections to fsaverage5 and its fsnative runs → the trial-indexed store
  (:func:`~bergforge.preprocess.bold_prepare.prepare_bold_subject`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bergforge.datasets import bold5000 as b5
from bergforge.errors import DataError
from bergforge.preprocess.bold_prepare import prepare_bold_subject
from bergforge.preprocess.bold_window_settings import window_settings
from bergforge.preprocess.decoding_split import decoding_split
from bergforge.preprocess.sphere_projection import fsaverage_projection
from bergforge.preprocess.stimuli import write_stimuli_table
from bergforge.preprocess.study_trials import (
    read_study_trials,
    stimulus_rows,
    write_study_trials,
)

log = logging.getLogger(__name__)

#: neuralbench's fMRI image task (research/decoding.md §1.7): 20 % of the training runs, seed 33
VALIDATION_FRACTION, SPLIT_SEED = 0.2, 33


def study_trials(
    raw_dir: Path | str, runs: Mapping[int, Sequence[tuple[int, int]]]
) -> pd.DataFrame:
    """The study's trial table (``trials.tsv``'s rows) of ``runs`` (subject → its (session, run)
    pairs), subjects in increasing order, with the task's split."""
    raw_dir = Path(raw_dir)
    if not runs or any(not r for r in runs.values()):
        raise DataError(
            f"{raw_dir}: no runs for subject(s) {sorted(s for s in runs if not runs[s])}"
        )
    repeated = b5.read_repeated(raw_dir)
    table = pd.concat(
        [
            b5.trial_table(raw_dir, s, repeated, raw_dir, runs=[tuple(r) for r in runs[s]])
            for s in sorted(runs)
        ],
        ignore_index=True,
    )
    table["split"] = decoding_split(table, repeated, VALIDATION_FRACTION, SPLIT_SEED)
    _check_images(table)
    return table


def _check_images(table: pd.DataFrame) -> None:
    """One file per image, and every file in the stimulus tree (else one error naming it)."""
    files = table.groupby("image", sort=False)["file"].unique()
    split = files[files.map(len) > 1]
    if len(split):
        raise DataError(
            f"image {split.index[0]!r} is filed under {sorted(split.iloc[0])} by its trials' "
            "ImgType; expected one stimulus folder per image"
        )
    missing = [(image, f[0]) for image, f in files.items() if not Path(f[0]).is_file()]
    if missing:
        image, path = missing[0]
        shown = table[table["image"] == image].iloc[0]
        raise DataError(
            f"{len(missing)} image(s) of the events are missing from the stimulus tree, the "
            f"first {path} (image {image!r}, subject {shown.subject} session {shown.session} run "
            f"{shown.run} trial {shown.trial}); expected every stim_file under "
            f"{b5.STIMULI / 'Presented_Stimuli'}"
        )


def write_trials_job(
    raw_dir: Path | str,
    runs: Mapping[int, Sequence[tuple[int, int]]],
    trials_out: Path | str,
    stimuli_out: Path | str,
) -> pd.DataFrame:
    """Write ``trials.tsv`` and ``stimuli.tsv`` of the study (both checked before either is
    written); returns the trial table."""
    table = study_trials(raw_dir, runs)
    stimuli = stimulus_rows(table)
    write_study_trials(table, trials_out)
    write_stimuli_table(stimuli, stimuli_out)
    counts = table["split"].value_counts()
    log.info(
        "%d trials of %d subjects (%s), %d images (%d test)",
        len(table),
        table["subject"].nunique(),
        ", ".join(f"{k} {counts.get(k, 0)}" for k in ("train", "validation", "test")),
        len(stimuli),
        int((stimuli["split"] == "test").sum()),
    )
    return table


def prepare_windows_job(
    trials_path: Path | str,
    raw_dir: Path | str,
    subject: int,
    out: Path | str,
    *,
    dataset: str,
    preprocess: Mapping[str, Any] | None = None,
) -> Path:
    """The trial-indexed store ``out`` of ``subject`` from its rows of ``trials.tsv``, its runs
    and its ``sphere.reg`` files under ``raw_dir``; ``preprocess``: the dataset's window keys."""
    settings = window_settings(preprocess, f"datasets.{dataset}.preprocess")
    table = read_study_trials(trials_path)
    rows = table[table["subject"] == subject].reset_index(drop=True)
    if rows.empty:
        raise DataError(
            f"{trials_path} has no trials of subject {subject}; expected subjects "
            f"{sorted(int(s) for s in table['subject'].unique())}"
        )
    surf = b5.freesurfer_surf(raw_dir, subject)
    projections = {
        name: fsaverage_projection(surf / f"{hemi}.sphere.reg", name, settings.mesh)
        for hemi, name in (("lh", "left"), ("rh", "right"))
    }
    for name, projection in projections.items():
        if projection.n_nearest:
            log.info("%s: %d vertices took the nearest value", name, projection.n_nearest)

    def run_files(session: int, run: int, hemi: str) -> Path:
        return b5.surface_run_path(raw_dir, subject, session, run, hemi)

    log.info(
        "subject %d: %d trials in %d runs",
        subject,
        len(rows),
        rows[["session", "run"]].drop_duplicates().shape[0],
    )
    return prepare_bold_subject(
        rows, run_files, projections, Path(out), dataset=dataset, settings=settings
    )
