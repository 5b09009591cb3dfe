"""Jobs of the fMRI preprocessing rules: GLMsingle betas, the stimulus table, prepared stores.

The betas files ``results/fmri/{dataset}/betas/sub-XX.npz`` between them are written and read by
:mod:`bergforge.preprocess.betas_file`, whether GLMsingle or MOSAIC's betas made them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bergforge.config import dataclass_from_section
from bergforge.preprocess.betas_file import BetasFile, write_betas
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
        betas_path,
        [betas.T],
        betas.shape[1],
        runs.grayordinates,
        {c: trials[c].to_numpy() for c in trials.columns},
    )


def stimuli_job(betas_paths: list[Path], stimuli_path: Path) -> None:
    """Write the dataset's ``stimuli.tsv``: the union of every subject's images."""
    stimuli = stimulus_rows({i: BetasFile(p).trials() for i, p in enumerate(betas_paths)})
    write_stimuli_table(stimuli, stimuli_path)


def prepare_subject_job(
    dataset: str, subject: int, betas_path: Path, stimuli_path: Path, store: Path
) -> None:
    """Write one subject's prepared store ``[image, repetition, vertex]``."""
    betas = BetasFile(betas_path)
    stimuli = read_stimuli(stimuli_path)
    write_prepared_subject(betas, stimuli, store, dataset, subject)
