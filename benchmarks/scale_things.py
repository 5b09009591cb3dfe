"""Scale-harness cases of MEG/EEG preprocessing: THINGS-MEG1's published epochs, THINGS-EEG2's raw dicts.

THINGS-MEG1 participant P1 (config/things_meg.yaml): 27,048 epochs (22,248 training images once,
200 test images × 12, 2,400 catch) × 271 sensors × 281 samples at 200 Hz, float32 in FIF files
that MNE splits at 2 GB. THINGS-EEG2 subject (config/things_eeg.yaml): 4 sessions, each a
training partition (8,270 images × 2 + ≈6% targets at a 200 ms SOA) and a test partition
(200 images × 20 + targets) of 63 EEG channels + ``stim`` at 1000 Hz, float64 as published.
At fraction f every count of images (and so of trials) is scaled by f.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scale_cases import Case, workflow_size

from bergforge.workflow.resources import Size

MEG_TRAIN, MEG_TEST, MEG_TEST_REPS, MEG_CATCH = 22_248, 200, 12, 2_400
MEG_CHANNELS, MEG_TIMES = 271, 281
EEG_TRAIN, EEG_TEST, EEG_TRAIN_REPS, EEG_TEST_REPS = 16_540, 200, 2, 20  # reps per session
EEG_SESSIONS, EEG_SOA, EEG_MARGIN, TARGETS = 4, 200, 2_000, 0.06  # samples at 1000 Hz
GB = 1e9


def meg_counts(fraction: float) -> tuple[int, int, int]:
    """(training images, test images, catch trials) at ``fraction``."""
    return (
        max(8, round(MEG_TRAIN * fraction)),
        max(2, round(MEG_TEST * fraction)),
        round(MEG_CATCH * fraction),
    )


def write_meg_images_table(raw_dir: Path, n_train: int, n_test: int) -> pd.DataFrame:
    """``images/image_paths.tsv`` (image_nr, split, concept, path) of train, test and catch."""
    n = n_train + n_test + 1
    images = pd.DataFrame(
        {
            "image_nr": np.arange(1, n + 1),
            "split": ["train"] * n_train + ["test"] * n_test + ["catch"],
            "concept": [f"c{k // 12:05d}" for k in range(n)],
        }
    )
    images["path"] = [f"{c}/{c}_{k:05d}.jpg" for k, c in enumerate(images.concept)]
    (raw_dir / "images").mkdir(parents=True, exist_ok=True)
    images.to_csv(raw_dir / "images" / "image_paths.tsv", sep="\t", index=False)
    return images


def write_meg_epochs(raw_dir: Path, fraction: float) -> Path:
    """The published-epochs FIF of participant 1 (and its split parts) with per-epoch metadata."""
    import mne

    from bergforge.datasets.sensors import BAD_MEG_SENSOR, meg_sensor_names

    n_train, n_test, n_catch = meg_counts(fraction)
    images = write_meg_images_table(raw_dir, n_train, n_test)
    train, test = images[images.split == "train"], images[images.split == "test"]
    codes = np.concatenate(
        [train.image_nr, np.repeat(test.image_nr, MEG_TEST_REPS), np.full(n_catch, 999999)]
    )
    kinds = ["exp"] * len(train) + ["test"] * (len(test) * MEG_TEST_REPS) + ["catch"] * n_catch
    order = np.random.default_rng(0).permutation(codes.size)
    codes, kinds = codes[order], np.asarray(kinds)[order]
    meta = pd.DataFrame(
        {
            "trial_type": kinds,
            "session_nr": 1 + np.arange(codes.size) * 12 // codes.size,
            "run_nr": 1 + np.arange(codes.size) * 120 // codes.size % 10,
            "things_image_nr": codes,
        }
    )
    names = [n for n in meg_sensor_names() if n != BAD_MEG_SENSOR][:MEG_CHANNELS]
    info = mne.create_info(names, 200.0, "mag")
    rng = np.random.default_rng(1)
    data = rng.standard_normal((codes.size, len(names), MEG_TIMES), dtype=np.float32)
    events = np.column_stack([np.arange(codes.size) * 400 + 1000, np.zeros(codes.size), codes])
    epochs = mne.EpochsArray(data, info, events.astype(int), tmin=-0.1, verbose="error")
    del data
    epochs.metadata = meta
    path = raw_dir / "derivatives" / "preprocessed" / "preprocessed_P1-epo.fif"
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs.save(path, overwrite=True, verbose="error")
    return path


def eeg_counts(fraction: float) -> tuple[int, int]:
    """(training images, test images) at ``fraction`` (training even: half per session pair)."""
    return max(8, 2 * round(EEG_TRAIN * fraction / 2)), max(2, round(EEG_TEST * fraction))


def write_eeg_raw(raw_dir: Path, fraction: float) -> Path:
    """``image_set/image_metadata.npy`` and the 4 sessions' raw dicts of subject 1."""
    from bergforge.datasets.sensors import EEG_CHANNELS, EEG_TARGET_CODE

    n_train, n_test = eeg_counts(fraction)
    meta = {
        "train_img_files": np.asarray([f"c{k:05d}_{k % 10 + 1:02d}b.jpg" for k in range(n_train)]),
        "train_img_concepts": np.asarray([f"{k // 10 + 1:05d}_c{k:05d}" for k in range(n_train)]),
        "test_img_files": np.asarray([f"t{k:05d}_01s.jpg" for k in range(n_test)]),
        "test_img_concepts": np.asarray([f"{k + 1:05d}_t{k:05d}" for k in range(n_test)]),
    }
    (raw_dir / "image_set").mkdir(parents=True, exist_ok=True)
    with open(raw_dir / "image_set" / "image_metadata.npy", "wb") as fh:
        np.save(fh, meta, allow_pickle=True)
    names = list(EEG_CHANNELS)
    rng = np.random.default_rng(2)
    for session in range(1, EEG_SESSIONS + 1):
        half = np.arange(n_train)[np.arange(n_train) % 2 == (session - 1) // 2]
        for partition, codes in (
            ("training", np.repeat(half + 1, EEG_TRAIN_REPS)),
            ("test", np.repeat(np.arange(1, n_test + 1), EEG_TEST_REPS)),
        ):
            codes = np.concatenate([codes, np.full(round(TARGETS * codes.size), EEG_TARGET_CODE)])
            codes = codes[rng.permutation(codes.size)]
            n_samples = codes.size * EEG_SOA + 2 * EEG_MARGIN
            data = np.empty((len(names) + 1, n_samples))
            data[:-1] = rng.standard_normal((len(names), n_samples)) * 1e-5
            data[-1] = 0.0
            data[-1, EEG_MARGIN + np.arange(codes.size) * EEG_SOA] = codes
            raw = {
                "raw_eeg_data": data,
                "ch_names": names + ["stim"],
                "ch_types": ["eeg"] * len(names) + ["stim"],
                "sfreq": 1000.0,
                "highpass": 0.01,
                "lowpass": 100.0,
            }
            path = (
                raw_dir / "raw_data" / "sub-01" / f"ses-{session:02d}" / f"raw_eeg_{partition}.npy"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                np.save(fh, raw, allow_pickle=True)
            del data, raw
    return raw_dir / "raw_data" / "sub-01"


def _meg_prepare(point: Path, fraction: float, cache: Path) -> dict:
    epochs = write_meg_epochs(point / "raw", fraction)
    return {"epochs": str(epochs), "raw_dir": str(point / "raw"), "out": str(point / "sub-01.zarr")}


def _meg_run(job: dict) -> None:
    from bergforge.preprocess.meg_epochs import prepare_subject_from_epochs
    from bergforge.preprocess.params import meg_params

    prepare_subject_from_epochs(
        Path(job["epochs"]),
        Path(job["raw_dir"]),
        1,
        Path(job["out"]),
        meg_params(),
        dataset="things_meg",
    )


def _eeg_prepare(point: Path, fraction: float, cache: Path) -> dict:
    raw = write_eeg_raw(point / "raw", fraction)
    return {"raw": str(raw), "raw_dir": str(point / "raw"), "out": str(point / "sub-01.zarr")}


def _eeg_run(job: dict) -> None:
    from bergforge.preprocess.eeg import prepare_subject
    from bergforge.preprocess.params import eeg_params

    prepare_subject(
        Path(job["raw_dir"]), 1, Path(job["out"]), eeg_params({"mode": "mean"}), 4, "things_eeg"
    )


_MEG_EPOCHS = MEG_TRAIN + MEG_TEST * MEG_TEST_REPS + MEG_CATCH
_MEG_MB = _MEG_EPOCHS * MEG_CHANNELS * MEG_TIMES * 4 / 1e6
_MEG_STORE_GB = (MEG_TRAIN + MEG_TEST * MEG_TEST_REPS) * MEG_CHANNELS * MEG_TIMES * 4 / GB


def _eeg_partition_mb(trials: int) -> float:
    return 64 * (round(trials * (1 + TARGETS)) * EEG_SOA + 2 * EEG_MARGIN) * 8 / 1e6


_EEG_TRAIN_MB = _eeg_partition_mb(EEG_TRAIN // 2 * EEG_TRAIN_REPS)  # 8,270 images × 2 reps
_EEG_TEST_MB = _eeg_partition_mb(EEG_TEST * EEG_TEST_REPS)
_EEG_STORE_GB = (EEG_TRAIN * 4 + EEG_TEST * 80) * 63 * 140 * 4 / GB

#: below 1/8 the chunked reading is not in its steady state (MEG epochs 1,000 at a time, an EEG
#: partition's fixed overhead): 1/16 bends the memory line upwards (7.3 GB predicted for EEG
#: against 5.1 GB from 1/8–1/2). 1/2 adds nothing to the line and 4–5 min to the harness.
STEADY_FRACTIONS = (1 / 8, 1 / 4)

THINGS_CASES = [
    Case(
        name="preprocess_meg_subject_from_epochs[meg]",
        rule="preprocess_meg_subject_from_epochs",
        variant="meg",
        dataset="THINGS-MEG1 (things_meg.yaml), participant P1",
        unit="epochs files (MB)",
        work_unit="epochs files (MB)",
        real=Size(_MEG_MB, _MEG_MB),
        prepare=_meg_prepare,
        run=_meg_run,
        size=lambda job: workflow_size(
            "preprocess_meg_subject_from_epochs",
            "things_meg",
            {"subject": "01"},
            {"epochs": job["epochs"]},
        ),
        disk_gb=lambda f: (_MEG_MB / 1e3 + 2 * _MEG_STORE_GB) * f + 0.1,
        note="metadata overhead of the FIF files not counted in the full size. The writer holds "
        "the epochs as float64 (MNE), so full size needs ≈17 GB just to write the input.",
        full_allowed=False,
        fractions=STEADY_FRACTIONS,
    ),
    Case(
        name="preprocess_eeg_subject[eeg]",
        rule="preprocess_eeg_subject",
        variant="eeg",
        dataset="THINGS-EEG2 (things_eeg.yaml), one subject",
        unit="largest raw partition (MB)",
        work_unit="all raw partitions (MB)",
        real=Size(_EEG_TRAIN_MB, EEG_SESSIONS * (_EEG_TRAIN_MB + _EEG_TEST_MB)),
        prepare=_eeg_prepare,
        run=_eeg_run,
        size=lambda job: workflow_size(
            "preprocess_eeg_subject", "things_eeg", {"subject": "01"}, {"raw": job["raw"]}
        ),
        disk_gb=lambda f: (
            (EEG_SESSIONS * (_EEG_TRAIN_MB + _EEG_TEST_MB) / 1e3 + 2 * _EEG_STORE_GB) * f + 0.1
        ),
        fractions=STEADY_FRACTIONS,
        note="targets: 6% of the trials (99999); one partition (float64) is in memory at a time.",
    ),
]
