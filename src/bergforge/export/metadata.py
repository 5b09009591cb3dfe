"""Metadata dicts in BERG's key layout, built from the prepared store, stimuli table and evaluation.

MEG (``metadata_P{n}.npy``): ``meg`` {times, subject_id}, ``sensors`` {sensor_names,
sensor_prefixes, sensor_hemispheres, sensor_regions (numpy arrays of str), n_sensors},
``encoding_model`` {all_training_splits / single_training_split_{k}: train trial info +
correlation_results + percent_noise_ceiling; test trial info; ncsnr; noise_ceiling}.
EEG (``metadata_subject-{nn}.npy``): ``eeg`` {ch_names (a list), times, ncsnr, noise_ceiling},
``encoding_models`` {correlation_averaged_repetitions, correlation_single_repetitions,
train_img_info, test_img_info}. Both add ``bergforge`` {version, models} (provenance, for cards).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from bergforge._version import __version__
from bergforge.datasets.sensors import sensor_metadata
from bergforge.errors import DataError
from bergforge.export.layout import N_SINGLE_SPLITS

#: Keys of model.json that may hold the training rows (of the prepared ``train`` array) of a split.
TRAIN_INDEX_KEYS = ("train_indices", "train_image_indices")


@dataclass
class SubjectRecord:
    """Everything the metadata of one subject is built from (already read from disk)."""

    subject: int
    attrs: dict  # prepared store attributes
    sessions: dict[str, np.ndarray]  # "train"/"test" -> [image, repetition] (-1 = missing)
    runs: dict[str, np.ndarray]
    stimuli: pd.DataFrame  # stimuli.tsv
    models: dict[str, dict]  # split -> model.json
    evaluation: dict[str, np.ndarray]  # evaluation.npz


def berg_split_key(split: str) -> str:
    """``all`` → ``all_training_splits``; ``single-2`` → ``single_training_split_2``."""
    return (
        "all_training_splits"
        if split == "all"
        else split.replace("single-", "single_training_split_")
    )


def train_indices(model_json: dict, split: str) -> np.ndarray:
    """Training rows of a split from its model.json."""
    for key in TRAIN_INDEX_KEYS:
        if key in model_json:
            return np.asarray(model_json[key], dtype=np.int64)
    raise DataError(
        f"model.json of split {split!r} names no training rows; expected one of {list(TRAIN_INDEX_KEYS)}"
    )


def _rows(stimuli: pd.DataFrame, split: str) -> pd.DataFrame:
    table = stimuli[stimuli["split"] == split].sort_values("index")
    if table.empty:
        raise DataError(f"stimuli.tsv has no rows with split == {split!r}")
    return table.reset_index(drop=True)


def _split_index(evaluation: dict, split: str) -> int:
    names = [str(s) for s in np.asarray(evaluation["splits"]).tolist()]
    if split not in names:
        raise DataError(f"evaluation.npz has no split {split!r}; it has {names}")
    return names.index(split)


def _per_trial(values: np.ndarray | None, rows: np.ndarray, rep: np.ndarray) -> np.ndarray:
    if values is None:
        return np.full(len(rows), -1, dtype=np.int64)
    return np.asarray(values)[rows, rep].astype(np.int64)


def meg_metadata(rec: SubjectRecord) -> dict:
    """The MEG metadata dict of one subject."""
    names = [str(c) for c in rec.attrs["channels"]]
    sensors = {
        key: np.asarray(rec.attrs[key], dtype=str) if key in rec.attrs else value
        for key, value in sensor_metadata(names).items()
        if key != "sensor_names"
    }
    train, test = _rows(rec.stimuli, "train"), _rows(rec.stimuli, "test")
    ev = rec.evaluation
    encoding_model: dict = {}
    for split, model_json in rec.models.items():
        idx = train_indices(model_json, split)
        s = _split_index(ev, split)
        zero = np.zeros(len(idx), dtype=np.int64)
        encoding_model[berg_split_key(split)] = {
            "train_img_ids": train["image_id"].to_numpy(dtype=str)[idx],
            "train_concepts": train["concept"].to_numpy(dtype=str)[idx],
            "train_stimuli": np.asarray([PurePosixPath(f).name for f in train["file"]])[idx],
            "train_sessions": _per_trial(rec.sessions.get("train"), idx, zero),
            "train_runs": _per_trial(rec.runs.get("train"), idx, zero),
            "train_img_files": train["file"].to_numpy(dtype=str)[idx],
            "correlation_results": np.asarray(ev["correlation"][s], dtype=np.float32),
            "percent_noise_ceiling": np.asarray(ev["percent_noise_ceiling"][s], dtype=np.float32),
        }
    img, rep = _test_trials(rec.sessions.get("test"), len(test), ev)
    encoding_model.update(
        {
            "test_img_ids": test["image_id"].to_numpy(dtype=str)[img],
            "test_stimuli": np.asarray([PurePosixPath(f).name for f in test["file"]])[img],
            "test_concepts": test["concept"].to_numpy(dtype=str)[img],
            "test_image_nr": img + 1,
            "test_sessions": _per_trial(rec.sessions.get("test"), img, rep),
            "test_runs": _per_trial(rec.runs.get("test"), img, rep),
            "test_img_files": test["file"].to_numpy(dtype=str)[img],
            "ncsnr": np.asarray(ev["ncsnr"], dtype=np.float32),
            "noise_ceiling": np.asarray(ev["noise_ceiling"], dtype=np.float32),
        }
    )
    return {
        "meg": {
            "times": np.asarray(rec.attrs["times"], dtype=np.float64),
            "subject_id": f"P{rec.subject}",
        },
        "sensors": {
            "sensor_names": np.asarray(names, dtype=str),
            **sensors,
            "n_sensors": len(names),
        },
        "encoding_model": encoding_model,
        "bergforge": _provenance(rec),
    }


def _test_trials(sessions: np.ndarray | None, n_images: int, ev: dict):
    """(image, repetition) of every recorded test trial, image-major."""
    if sessions is None:
        reps = int(np.asarray(ev["n_test_repetitions"]).max())
        present = np.ones((n_images, reps), dtype=bool)
    else:
        present = np.asarray(sessions) >= 0
    img, rep = np.nonzero(present)
    return img.astype(np.int64), rep.astype(np.int64)


def eeg_metadata(rec: SubjectRecord) -> dict:
    """The EEG metadata dict of one subject."""
    ev = rec.evaluation
    singles = [f"single-{k}" for k in range(1, N_SINGLE_SPLITS + 1)]
    single_r = np.stack([ev["correlation"][_split_index(ev, s)] for s in singles])
    info = {}
    for split in ("train", "test"):
        rows = _rows(rec.stimuli, split)
        info[f"{split}_img_info"] = {
            f"{split}_img_concepts": rows["concept"].to_numpy(dtype=str),
            f"{split}_img_concepts_THINGS": rows["concept"].to_numpy(dtype=str),
            f"{split}_img_files": np.asarray([PurePosixPath(f).name for f in rows["file"]]),
        }
    return {
        "eeg": {
            "ch_names": [str(c) for c in rec.attrs["channels"]],
            "times": np.asarray(rec.attrs["times"], dtype=np.float64),
            "ncsnr": np.asarray(ev["ncsnr"], dtype=np.float32),
            "noise_ceiling": np.asarray(ev["noise_ceiling"], dtype=np.float32),
        },
        "encoding_models": {
            "correlation_averaged_repetitions": np.asarray(
                ev["correlation_split_average"], dtype=np.float32
            ),
            "correlation_single_repetitions": single_r.astype(np.float32),
            **info,
        },
        "bergforge": _provenance(rec),
    }


def _provenance(rec: SubjectRecord) -> dict:
    return {
        "version": __version__,
        "preprocessing": rec.attrs.get("preprocessing", {}),
        "n_train_images": int((rec.stimuli["split"] == "train").sum()),
        "n_test_images": int((rec.stimuli["split"] == "test").sum()),
        "n_test_repetitions": int(np.asarray(rec.evaluation["n_test_repetitions"]).max()),
        "models": {split: _small(m) for split, m in rec.models.items()},
    }


def _small(model_json: dict) -> dict:
    """model.json without its per-image lists (those are in the train/test info)."""
    return {
        k: v
        for k, v in model_json.items()
        if k not in TRAIN_INDEX_KEYS and not (isinstance(v, list) and len(v) > 16)
    }
