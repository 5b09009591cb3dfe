"""Jobs of the fMRI preprocessing rules: GLMsingle betas, the stimulus table, prepared stores.

Also the one writer and reader of the betas files ``results/fmri/{dataset}/betas/sub-XX.npz``
(:func:`write_betas`, :func:`read_betas`), whether GLMsingle or MOSAIC's betas made them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.atomic import atomic_file
from bergforge.config import dataclass_from_section
from bergforge.preprocess.fmri import (
    read_subject_runs,
    stimulus_rows,
    subject_betas,
    write_prepared_subject,
)
from bergforge.preprocess.glmsingle import GLMSingleParams
from bergforge.preprocess.stimuli import read_stimuli, write_stimuli_table

log = logging.getLogger(__name__)


def glmsingle_job(
    raw_dir: Path, subject: int, glmsingle: dict, out_dir: Path, betas_path: Path
) -> None:
    """GLMsingle on one subject's runs; per-session z-scored type-D betas + trial table (npz)."""
    params = dataclass_from_section(GLMSingleParams, glmsingle, "preprocess.glmsingle")
    runs = read_subject_runs(raw_dir, subject)
    betas, trials = subject_betas(runs, params, out_dir)
    log.info(
        "GLMsingle sub-%02d: %d runs, %d vertices, %d trials", subject, len(runs.data), *betas.shape
    )
    write_betas(
        betas_path, betas, runs.grayordinates, {c: trials[c].to_numpy() for c in trials.columns}
    )


def write_betas(
    path: Path, betas: np.ndarray, grayordinates: np.ndarray, trials: Mapping[str, np.ndarray]
) -> None:
    """Write a subject's betas file atomically: ``betas`` (vertex, trial), ``grayordinates`` and
    one ``trial_{column}`` array per trial-table column (``np.savez``, in this order)."""
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            betas=betas,
            grayordinates=grayordinates,
            **{f"trial_{column}": values for column, values in trials.items()},
        )


def read_betas(path: Path) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """A subject's betas file: (betas, trial table, grayordinates)."""
    with np.load(path) as f:
        trials = pd.DataFrame({k[6:]: f[k] for k in f.files if k.startswith("trial_")})
        return f["betas"], trials, f["grayordinates"]


def stimuli_job(betas_paths: list[Path], stimuli_path: Path) -> None:
    """Write the dataset's ``stimuli.tsv``: the union of every subject's images."""
    stimuli = stimulus_rows({i: read_betas(p)[1] for i, p in enumerate(betas_paths)})
    write_stimuli_table(stimuli, stimuli_path)


def prepare_subject_job(
    dataset: str, subject: int, betas_path: Path, stimuli_path: Path, store: Path
) -> None:
    """Write one subject's prepared store ``[image, repetition, vertex]``."""
    betas, trials, gray = read_betas(betas_path)
    stimuli = read_stimuli(stimuli_path)
    write_prepared_subject(betas, trials, stimuli, gray, store, dataset, subject)
