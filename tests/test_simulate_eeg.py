"""The simulated THINGS-EEG2 study: per-session raw dicts, condition codes and ground truth."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest

from bergforge.datasets.sensors import EEG_CHANNELS, EEG_TARGET_CODE
from bergforge.simulate.things_eeg2 import session_dir
from bergforge.simulate.truth import SubjectTruth
from conftest import TINY_EEG

SIM = TINY_EEG["simulation"]


def load(raw_dir, session, partition):
    return np.load(
        raw_dir / session_dir(1, session) / f"raw_eeg_{partition}.npy", allow_pickle=True
    ).item()


def test_dicts_have_the_published_keys_and_channels(tiny_eeg):
    for session in range(1, SIM["n_sessions"] + 1):
        for partition in ("training", "test"):
            raw = load(tiny_eeg, session, partition)
            assert set(raw) == {
                "raw_eeg_data",
                "ch_names",
                "ch_types",
                "sfreq",
                "highpass",
                "lowpass",
            }
            assert raw["ch_names"] == list(EEG_CHANNELS) + ["stim"]
            assert raw["ch_types"] == ["eeg"] * 63 + ["stim"]
            assert raw["sfreq"] == 1000 and raw["raw_eeg_data"].shape[0] == 64
            info = mne.create_info(raw["ch_names"], raw["sfreq"], raw["ch_types"])
            mne_raw = mne.io.RawArray(raw["raw_eeg_data"].astype(float), info, verbose="error")
            events = mne.find_events(mne_raw, stim_channel="stim", verbose="error")
            codes = raw["raw_eeg_data"][-1][raw["raw_eeg_data"][-1] != 0]
            np.testing.assert_array_equal(events[:, 2], codes)


def test_repetitions_per_image_follow_the_design(tiny_eeg):
    n_train = SIM["n_train_concepts"] * SIM["images_per_concept"]
    train_counts = np.zeros(n_train + 1, int)
    test_counts = np.zeros(SIM["n_test_images"] + 1, int)
    n_targets = 0
    for session in range(1, SIM["n_sessions"] + 1):
        for partition, counts in (("training", train_counts), ("test", test_counts)):
            stim = load(tiny_eeg, session, partition)["raw_eeg_data"][-1]
            codes = stim[stim != 0].astype(int)
            n_targets += (codes == EEG_TARGET_CODE).sum()
            np.add.at(counts, codes[codes != EEG_TARGET_CODE], 1)
    assert (train_counts[1:] == 4).all(), "4 repetitions per training image"
    assert (test_counts[1:] == SIM["n_sessions"] * SIM["test_reps_per_session"]).all()
    assert n_targets == SIM["targets_per_session"] * SIM["n_sessions"]

    meta = np.load(tiny_eeg / "image_set" / "image_metadata.npy", allow_pickle=True).item()
    assert (
        len(meta["train_img_files"]) == n_train
        and len(meta["test_img_files"]) == SIM["n_test_images"]
    )
    assert list(meta["train_img_concepts"]) == sorted(meta["train_img_concepts"])
    table = pd.read_csv(tiny_eeg / "ground_truth" / "images.tsv", sep="\t")
    for f in table.file:
        assert (tiny_eeg / f).is_file()


def test_test_average_matches_truth_as_noise_predicts(tiny_eeg):
    truth, extra = SubjectTruth.load(tiny_eeg / "ground_truth" / "sub-01_truth.npz")
    times = extra["times"]
    n_reps = int(extra["n_test_reps"])
    samples = np.round(times * 1000).astype(int)
    sums = np.zeros((SIM["n_test_images"], 63, len(times)))
    for session in range(1, SIM["n_sessions"] + 1):
        data = load(tiny_eeg, session, "test")["raw_eeg_data"].astype(float)
        onsets = np.flatnonzero(data[-1])
        for onset in onsets:
            code = int(data[-1, onset])
            if code != EEG_TARGET_CODE:
                sums[code - 1] += data[:63, onset + samples]
    average = sums / n_reps - extra["offset"][:, None]
    residual = average - extra["true_response_test"]
    ratio = residual.var(axis=(0, 2)) / (truth.noise_sd**2 / n_reps)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)
