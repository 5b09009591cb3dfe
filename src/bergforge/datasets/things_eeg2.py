"""Readers of THINGS-EEG2 (OSF layout): per-session raw dicts and the image set metadata."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.errors import DataError
from bergforge.safe_pickle import UnsafePickleError, load_npy_item

#: Design of the real study: 4 sessions, each with a training and a test partition.
N_SESSIONS = 4
PARTITIONS = ("training", "test")
RAW_KEYS = ("raw_eeg_data", "ch_names", "ch_types", "sfreq")


@dataclass(frozen=True)
class EegPartition:
    """One ``raw_eeg_{partition}.npy`` file."""

    session: int
    partition: str  # "training" or "test"
    path: Path


def find_partitions(raw_dir: Path, subject: int, n_sessions: int) -> list[EegPartition]:
    """Every session × partition file of a subject, in session order; all must exist."""
    sub = Path(raw_dir) / "raw_data" / f"sub-{subject:02d}"
    if not sub.is_dir():
        raise DataError(f"subject {subject} does not exist: no folder {sub}")
    found = []
    for session in range(1, n_sessions + 1):
        for partition in PARTITIONS:
            path = sub / f"ses-{session:02d}" / f"raw_eeg_{partition}.npy"
            if not path.exists():
                raise DataError(
                    f"missing session file {path}; expected {n_sessions} sessions with "
                    f"raw_eeg_training.npy and raw_eeg_test.npy for subject {subject}"
                )
            found.append(EegPartition(session, partition, path))
    return found


def read_partition(path: Path):
    """A raw dict as ``mne.io.RawArray`` (EEG channels + ``stim``), data cast to float64."""
    import mne

    try:
        raw = load_npy_item(path)
    except UnsafePickleError:
        raise
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, AttributeError) as err:
        raise DataError(
            f"{path}: cannot read the raw EEG dict ({type(err).__name__}: {err}); "
            "expected a complete pickled dict saved with np.save"
        ) from err
    if not isinstance(raw, dict) or any(k not in raw for k in RAW_KEYS):
        raise DataError(f"{path}: expected a dict with keys {list(RAW_KEYS)}")
    data = np.asarray(raw["raw_eeg_data"], dtype=np.float64)
    names, types = list(raw["ch_names"]), list(raw["ch_types"])
    if data.ndim != 2 or data.shape[0] != len(names) or len(types) != len(names):
        raise DataError(
            f"{path}: raw_eeg_data has shape {data.shape} for {len(names)} channel names; "
            "expected (channels, samples)"
        )
    if "stim" not in names:
        raise DataError(f"{path}: no 'stim' channel among ch_names")
    info = mne.create_info(names, float(raw["sfreq"]), types)
    return mne.io.RawArray(data, info, verbose="error")


def image_table(raw_dir: Path) -> pd.DataFrame:
    """Training and test images from ``image_set/image_metadata.npy``, in condition-code order.

    Columns: ``image_id`` (file stem), ``split``, ``concept`` (without the ``00001_`` prefix),
    ``path`` (relative to ``raw_dir``), ``code`` (1-based condition code within the split)."""
    path = Path(raw_dir) / "image_set" / "image_metadata.npy"
    if not path.exists():
        raise DataError(f"missing image metadata {path}")
    try:
        meta = load_npy_item(path)
    except UnsafePickleError:
        raise
    except Exception as err:
        raise DataError(f"{path}: cannot read the image metadata ({err})") from err
    frames = []
    for split, key, folder in (
        ("train", "train", "training_images"),
        ("test", "test", "test_images"),
    ):
        try:
            files, concepts = meta[f"{key}_img_files"], meta[f"{key}_img_concepts"]
        except (KeyError, TypeError) as err:
            raise DataError(
                f"{path}: expected keys {key}_img_files and {key}_img_concepts"
            ) from err
        frames.append(
            pd.DataFrame(
                {
                    "image_id": [Path(str(f)).stem for f in files],
                    "split": split,
                    "concept": [str(c).split("_", 1)[-1] for c in concepts],
                    "path": [
                        f"image_set/{folder}/{c}/{f}" for c, f in zip(concepts, files, strict=True)
                    ],
                    "code": np.arange(1, len(files) + 1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
