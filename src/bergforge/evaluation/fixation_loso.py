"""Leave-one-subject-out encoding of fixation-locked MEG on an AVS-like study (free viewing).

The baseline of the free-viewing issue, on the files an AVS-like study holds (the simulator's
layout, :mod:`bergforge.simulate.avs`: ``study.json``, ``nsd_stimuli.hdf5``, per subject the
continuous FIF and the fixation table): each subject's fixation-onset epochs
(:func:`bergforge.preprocess.fixation_epochs.fixation_epoch_blocks`, −0.1…0.5 s), its fixations'
features (:mod:`bergforge.features.fixation_features`, either way), one ridge per channel and time
point fitted on the training subjects pooled (features standardised on them, the penalty chosen
per target by leave-one-out from ``ALPHAS``: scikit-learn's ``RidgeCV``), and the held-out subject
predicted from its fixation table alone (no MEG of it is read before scoring).

Scores (:func:`channel_correlations`): Pearson r across the held-out subject's fixations per
channel and time point; reported as the median over channels at ``latency`` (110 ms, the AVS peak)
and per time point. The truth's ceiling of the held-out subject's prepared data at the latency
(``ground_truth/sub-{nn}_truth.json``, ``ceiling_r_median``) is the bound a perfect model of
that subject reaches; a model of the pooled subjects cannot reach it where the subject's own
patterns differ from the others'.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.datasets.avs_fixations import FixationTableSpec, read_fixation_table
from bergforge.datasets.screen import ScreenGeometry
from bergforge.errors import DataError
from bergforge.features.fixation_crops import CropSpec
from bergforge.features.fixation_job import read_scenes as read_scene_rows
from bergforge.preprocess.fixation_epochs import FixationEpochParams, fixation_epoch_blocks

#: ridge penalties tried per target (features standardised)
ALPHAS = np.logspace(-1, 5, 13)
LATENCY = 0.11
DEFAULT_SPEC, DEFAULT_EPOCHS = CropSpec(), FixationEpochParams()

Features = Callable[[pd.DataFrame, dict[int, np.ndarray], CropSpec], tuple[np.ndarray, np.ndarray]]


def channel_correlations(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Pearson r across fixations (axis 0) of every remaining index (e.g. channel × time), in
    float64 (MEG in T/m is ~1e-12: float32 sums of squared products would underflow to 0)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    p = predicted - predicted.mean(axis=0)
    o = observed - observed.mean(axis=0)
    denominator = np.sqrt((p**2).sum(axis=0) * (o**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (p * o).sum(axis=0) / denominator, 0.0)


def subject_epochs(
    raw_dir: Path, subject: int, spec: FixationTableSpec, params: FixationEpochParams
):
    """(canonical fixation table, epochs ``[n, 204, T]`` float64, times) of one subject."""
    import mne

    label = f"sub-{subject:02d}"
    table = subject_table(raw_dir, subject, spec)
    raw = mne.io.read_raw_fif(
        raw_dir / label / "meg" / f"{label}_task-avs_meg.fif", preload=True, verbose="error"
    )
    epochs = np.concatenate(list(fixation_epoch_blocks(raw, table, params, source=label)))
    return table, epochs, params.times(float(raw.info["sfreq"]))


def subject_table(raw_dir: Path, subject: int, spec: FixationTableSpec) -> pd.DataFrame:
    """The canonical fixation table of one subject of a simulated study."""
    label = f"sub-{subject:02d}"
    return read_fixation_table(raw_dir / label / f"{label}_fixations.tsv", spec)


def read_scenes(
    raw_dir: Path, subjects: list[int], spec: FixationTableSpec
) -> dict[int, np.ndarray]:
    """Scene id (row of ``imgBrick``) → ``(H, W, 3)`` uint8, for the scenes the subjects' tables
    show (the feature job's reader: never the whole ``imgBrick``)."""
    ids = {int(s) for subject in subjects for s in subject_table(raw_dir, subject, spec)["scene"]}
    return read_scene_rows(raw_dir / "nsd_stimuli.hdf5", sorted(ids))


def loso(
    raw_dir: Path | str,
    train_subjects: list[int],
    heldout: int,
    features: Features,
    spec: CropSpec = DEFAULT_SPEC,
    params: FixationEpochParams = DEFAULT_EPOCHS,
) -> dict[str, Any]:
    """Fit on ``train_subjects`` pooled, score ``heldout`` (module docstring)."""
    from sklearn.linear_model import RidgeCV

    raw_dir = Path(raw_dir)
    study = json.loads((raw_dir / "study.json").read_text())
    table_spec = FixationTableSpec.from_config(study["fixation_table"])
    scenes = read_scenes(raw_dir, [*train_subjects, heldout], table_spec)
    xs, ys = [], []
    for subject in train_subjects:
        table, epochs, times = subject_epochs(raw_dir, subject, table_spec, params)
        rows, x = features(table, scenes, spec)
        xs.append(x)
        ys.append(epochs[rows].reshape(len(rows), -1))
    x_train, y_train = np.concatenate(xs), np.concatenate(ys)
    mean, sd = x_train.mean(axis=0), x_train.std(axis=0)
    sd[sd == 0] = 1.0
    scale = y_train.std()
    if not np.isfinite(scale) or scale == 0:
        raise DataError(f"{raw_dir}: the training subjects' epochs are constant")
    model = RidgeCV(alphas=ALPHAS, alpha_per_target=True)
    model.fit((x_train - mean) / sd, y_train / scale)

    table, epochs, times = subject_epochs(raw_dir, heldout, table_spec, params)  # scoring only
    rows, x = features(table, scenes, spec)
    predicted = model.predict((x - mean) / sd).reshape(len(rows), *epochs.shape[1:]) * scale
    r = channel_correlations(predicted, epochs[rows])  # (channels, times)
    at = int(np.argmin(np.abs(times - LATENCY)))
    truth = raw_dir / "ground_truth" / f"sub-{heldout:02d}_truth.json"
    ceiling = json.loads(truth.read_text())["ceiling_r_median"] if truth.exists() else None
    return {
        "heldout": heldout,
        "train_subjects": list(train_subjects),
        "n_train_fixations": int(len(x_train)),
        "n_test_fixations": int(len(rows)),
        "n_features": int(x.shape[1]),
        "latency": float(times[at]),
        "median_r_at_latency": float(np.median(r[:, at])),
        "median_r_per_time": np.median(r, axis=0).tolist(),
        "times": times.tolist(),
        "ceiling_r_median": ceiling,
    }


def backbone_features(backbone, way: str, layer: str, geometry: ScreenGeometry) -> Features:
    """The ``features`` argument of :func:`loso` for a backbone: ``crops`` or ``gaze``."""
    from bergforge.features.fixation_features import crop_features, gaze_features_of

    if way == "crops":
        return lambda table, scenes, spec: crop_features(
            backbone, table, scenes, spec, geometry, layer
        )
    if way == "gaze":
        return lambda table, scenes, spec: gaze_features_of(backbone, table, scenes, spec, layer)
    raise ValueError(f"way {way!r}; expected 'crops' or 'gaze'")
