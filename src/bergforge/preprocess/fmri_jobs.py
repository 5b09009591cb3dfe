"""Jobs of the fMRI preprocessing rules: GLMsingle betas, the stimulus table, prepared stores."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.config import dataclass_from_section
from bergforge.preprocess.fmri import (
    read_subject_runs,
    stimulus_rows,
    subject_betas,
    write_prepared_subject,
)
from bergforge.preprocess.glmsingle import GLMSingleParams

log = logging.getLogger(__name__)


def glmsingle_job(
    raw_dir: Path, subject: int, glmsingle: dict, out_dir: Path, betas_path: Path
) -> None:
    """GLMsingle on one subject's runs; per-session z-scored type-D betas + trial table (npz)."""
    params = dataclass_from_section(GLMSingleParams, glmsingle, "fmri.glmsingle")
    runs = read_subject_runs(raw_dir, subject)
    betas, trials = subject_betas(runs, params, out_dir)
    log.info(
        "GLMsingle sub-%02d: %d runs, %d vertices, %d trials", subject, len(runs.data), *betas.shape
    )
    tmp = betas_path.with_name(f".{betas_path.name}.partial.npz")
    np.savez(
        tmp,
        betas=betas,
        grayordinates=runs.grayordinates,
        **{f"trial_{c}": trials[c].to_numpy() for c in trials.columns},
    )
    os.replace(tmp, betas_path)


def _load_betas(path: Path) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    with np.load(path) as f:
        trials = pd.DataFrame({k[6:]: f[k] for k in f.files if k.startswith("trial_")})
        return f["betas"], trials, f["grayordinates"]


def stimuli_job(betas_paths: list[Path], stimuli_path: Path) -> None:
    """Write the dataset's ``stimuli.tsv``: the union of every subject's images."""
    stimuli = stimulus_rows({i: _load_betas(p)[1] for i, p in enumerate(betas_paths)})
    tmp = stimuli_path.with_name(f".{stimuli_path.name}.partial")
    stimuli.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, stimuli_path)


def prepare_subject_job(
    dataset: str, subject: int, betas_path: Path, stimuli_path: Path, store: Path
) -> None:
    """Write one subject's prepared store ``[image, repetition, vertex]``."""
    betas, trials, gray = _load_betas(betas_path)
    stimuli = pd.read_csv(stimuli_path, sep="\t", keep_default_na=False)
    write_prepared_subject(betas, trials, stimuli, gray, store, dataset, subject)
