"""One subject's BOLD windows for decoding: fsnative GIFTI runs → fsaverage5 → cleaned → windows
→ the trial-indexed prepared store (``[trial, vertex, tr]``).

Per run (research/decoding.md §1.3): both hemispheres' time series are resampled to fsaverage5
through the subject's ``sphere.reg`` (:mod:`~bergforge.preprocess.sphere_projection`), stacked
``[left 10,242; right 10,242]``, each vertex detrended and z-scored within the run
(:func:`~bergforge.preprocess.bold_windows.clean_run`), and the samples of ``[onset + start,
onset + start + duration)`` cut for each trial with neuralset's rounding. The store is written run
by run (one run's windows in memory), sealed last; the trial table is the caller's, with the
split already decided (:func:`~bergforge.preprocess.decoding_split.decoding_split` over the whole
study, as neuralbench chooses validation runs among every subject's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.errors import DataError
from bergforge.preprocess.bold_window_settings import WindowSettings
from bergforge.preprocess.bold_windows import clean_run, cut_windows, window_indices
from bergforge.preprocess.meshes import BUNDLED
from bergforge.preprocess.sphere_projection import SphereProjection
from bergforge.preprocess.surface_runs import read_func_gii
from bergforge.preprocess.trials_store import write_trial_store

log = logging.getLogger(__name__)

HEMIS = (("L", "left"), ("R", "right"))
DEFAULT_WINDOWS = WindowSettings()


def prepare_bold_subject(
    trials: pd.DataFrame,
    run_files: Callable[[int, int, str], Path],
    projections: dict[str, SphereProjection],
    out: Path,
    *,
    dataset: str,
    settings: WindowSettings = DEFAULT_WINDOWS,
) -> Path:
    """Write ``out`` from one subject's ``trials`` (recording order; columns of the trial table)
    and its runs (``run_files(session, run, "L"|"R")`` → ``func.gii``) projected by
    ``projections`` (``"left"``/``"right"``)."""
    if settings.mesh not in BUNDLED:
        raise DataError(f"mesh {settings.mesh!r}; expected one of {sorted(BUNDLED)}")
    subjects = trials["subject"].unique()
    if len(subjects) != 1:
        raise DataError(f"trials of subjects {sorted(subjects)}; expected one subject per store")
    n_vertex = BUNDLED[settings.mesh]
    _, length = window_indices([0.0], settings.tr, settings.start, settings.duration)
    if length != settings.n_trs:  # before any run is read
        raise DataError(
            f"a {settings.duration} s window at TR {settings.tr} s is {length} TRs; the model "
            f"expects {settings.n_trs} (choose a duration that rounds to {settings.n_trs} TRs)"
        )
    keys = list(zip(trials["session"], trials["run"], strict=True))
    runs = list(dict.fromkeys(keys))
    segments = 1 + sum(a != b for a, b in zip(keys, keys[1:], strict=False))
    if segments != len(runs):
        raise DataError("trials must be grouped by run (each run's trials consecutive)")

    def blocks() -> Iterator[np.ndarray]:
        for k, (session, run) in enumerate(runs, 1):
            rows = trials[(trials["session"] == session) & (trials["run"] == run)]
            label = f"subject {int(subjects[0])} session {session} run {run}"
            halves = []
            for hemi, name in HEMIS:
                path = run_files(int(session), int(run), hemi)
                halves.append(projections[name].apply(read_func_gii(path), str(path)))
            if halves[0].shape[1] != halves[1].shape[1]:
                raise DataError(
                    f"{label}: {halves[0].shape[1]} volumes on the left, {halves[1].shape[1]} on "
                    "the right; expected the same run"
                )
            surface = np.concatenate(halves)
            if surface.shape[0] != 2 * n_vertex:
                raise DataError(f"{label}: {surface.shape[0]} vertices; expected {2 * n_vertex}")
            cleaned = clean_run(surface, label)
            yield cut_windows(
                cleaned,
                rows["onset"].to_numpy(),
                settings.tr,
                settings.start,
                settings.duration,
                settings.n_trs,
                label,
            )
            log.info("%s: %d windows (%d/%d runs)", label, len(rows), k, len(runs))

    return write_trial_store(
        out,
        trials.reset_index(drop=True),
        blocks(),
        modality="fmri",
        dataset=dataset,
        subject=int(subjects[0]),
        dims=["trial", "vertex", "tr"],
        coords={"vertex": list(range(2 * n_vertex)), "tr": list(range(settings.n_trs))},
        sampling_period=settings.tr,
        preprocessing={
            **asdict(settings),
            "hemispheres": "left then right",
            "clean": "detrend, zscore_sample",
        },
    )
