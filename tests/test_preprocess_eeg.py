"""THINGS-EEG2 preprocessing on the tiny simulated study: layout, an MNE reference, recovery, errors."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
import zarr
from preprocess_helpers import column_correlation, leftovers, mirror, replace

from bergforge.datasets.sensors import EEG_CHANNELS, EEG_TARGET_CODE
from bergforge.errors import DataError
from bergforge.preprocess import eeg
from bergforge.preprocess.params import eeg_params
from bergforge.preprocess.stimuli import stimulus_table
from bergforge.simulate.truth import SubjectTruth
from conftest import TINY_EEG

SIM = TINY_EEG["simulation"]
N_SESSIONS = SIM["n_sessions"]
N_TRAIN = SIM["n_train_concepts"] * SIM["images_per_concept"]
N_TEST_REPS = N_SESSIONS * SIM["test_reps_per_session"]


def prepare(raw_dir, out, subject=1, **params):
    return eeg.prepare_subject(raw_dir, subject, out, eeg_params(params), N_SESSIONS, "tiny")


@pytest.fixture(scope="module")
def prepared(tiny_eeg, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared_eeg") / "sub-01.zarr"
    prepare(tiny_eeg, out, epoch_batch=40)  # the test partitions run in 3 batches
    return zarr.open_group(out, mode="r")


def test_shapes_times_channels_and_csd(prepared):
    assert prepared["train"].shape == (N_TRAIN, 4, 63, 140)
    assert prepared["test"].shape == (SIM["n_test_images"], N_TEST_REPS, 63, 140)
    attrs = prepared.attrs
    times = np.asarray(attrs["times"])
    assert len(times) == 140
    assert times[0] == pytest.approx(-0.1) and times[-1] == pytest.approx(0.595)
    assert attrs["channels"] == list(EEG_CHANNELS)
    assert attrs["ch_type"] == "csd" and attrs["modality"] == "eeg"
    assert attrs["baseline_mode"] == "mean" and attrs["preprocessing"]["csd_stiffness"] == 4


def test_repetitions_per_image_and_no_target_trials(prepared, tiny_eeg):
    train, test = prepared["train"][:], prepared["test"][:]
    assert not np.isnan(train).any() and not np.isnan(test).any()
    sessions = prepared["train_session"][:]
    assert (np.diff(sessions, axis=1) >= 0).all(), "repetitions in recording order"
    assert all(len(set(row)) == 2 for row in sessions), "each training image in 2 sessions"
    n_events = 0
    for s in range(1, N_SESSIONS + 1):
        for part in ("training", "test"):
            path = tiny_eeg / f"raw_data/sub-01/ses-{s:02d}/raw_eeg_{part}.npy"
            stim = np.load(path, allow_pickle=True).item()["raw_eeg_data"][-1]
            codes = stim[stim > 0]
            assert (codes == EEG_TARGET_CODE).any()
            n_events += int((codes != EEG_TARGET_CODE).sum())
    assert train.shape[0] * train.shape[1] + test.shape[0] * test.shape[1] == n_events


def test_one_session_matches_the_same_steps_written_with_mne(prepared, tiny_eeg):
    raw_dict = np.load(
        tiny_eeg / "raw_data/sub-01/ses-01/raw_eeg_training.npy", allow_pickle=True
    ).item()
    info = mne.create_info(raw_dict["ch_names"], raw_dict["sfreq"], raw_dict["ch_types"])
    raw = mne.io.RawArray(raw_dict["raw_eeg_data"].astype(np.float64), info, verbose="error")
    events = mne.find_events(raw, stim_channel="stim", shortest_event=1, verbose="error")
    events = events[events[:, 2] != 99999]
    raw.drop_channels(["stim"]).set_montage("easycap-M1")
    raw.filter(l_freq=0.03, h_freq=100, verbose="error")
    epochs = mne.Epochs(
        raw, events, tmin=-0.1, tmax=0.6, baseline=None, preload=True, verbose="error"
    )
    epochs = mne.preprocessing.compute_current_source_density(
        epochs, lambda2=1e-05, stiffness=4, verbose="error"
    )
    epochs.resample(200, verbose="error")
    data = epochs.get_data()
    reference = data - data[:, :, epochs.times <= 0].mean(axis=2, keepdims=True)
    assert reference.shape[1:] == (63, 140)

    rows = stimulus_table("things_eeg2", tiny_eeg).query("split == 'train'").set_index("code")
    seen: dict[int, int] = {}
    sessions = prepared["train_session"][:]
    scale = np.abs(reference).max()
    for k, code in enumerate(events[:, 2]):
        index = int(rows.loc[code, "index"])
        rep = np.flatnonzero(sessions[index] == 1)[seen.get(code, 0)]
        seen[code] = seen.get(code, 0) + 1
        got = prepared["train"][index, rep]
        np.testing.assert_allclose(got, reference[k], rtol=1e-4, atol=1e-5 * scale)


def test_test_averages_recover_the_csd_of_the_true_responses(prepared, tiny_eeg):
    truth, extras = SubjectTruth.load(tiny_eeg / "ground_truth" / "sub-01_truth.npz")
    info = mne.create_info(truth.channels, 200.0, "eeg")

    def csd(data: np.ndarray) -> np.ndarray:
        inst = mne.EpochsArray(data.astype(np.float64), info, tmin=-0.1, verbose="error")
        inst.set_montage("easycap-M1")
        return mne.preprocessing.compute_current_source_density(
            inst, lambda2=1e-5, stiffness=4, verbose="error"
        ).get_data()

    true_csd = csd(extras["true_response_test"])
    # the CSD is linear: its matrix gives the noise variance of each CSD channel
    operator = csd(np.eye(63)[None])[0]
    noise_var = (operator**2) @ truth.noise_sd**2
    snr2 = true_csd.var(axis=0, ddof=1) / noise_var[:, None]
    expected = np.sqrt(snr2 / (snr2 + 1 / N_TEST_REPS))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = column_correlation(prepared["test"][:].mean(axis=1), true_csd)
    signal = expected > 0.7
    assert signal.sum() > 300
    assert np.median(r[signal]) > 0.9 * np.median(expected[signal])
    assert np.median(r[signal]) < np.median(expected[signal]) + 0.05


# ---- bad input: one clear error naming the file; nothing left behind ------------------------


def test_missing_session_file(tiny_eeg, tmp_path):
    raw_dir = mirror(tiny_eeg, tmp_path / "raw")
    (raw_dir / "raw_data/sub-01/ses-03/raw_eeg_test.npy").unlink()
    with pytest.raises(DataError, match=r"missing session file .*ses-03/raw_eeg_test\.npy"):
        prepare(raw_dir, tmp_path / "prepared" / "sub-01.zarr")
    assert leftovers(tmp_path / "prepared") == []


def test_truncated_session_file_after_others_were_staged(tiny_eeg, tmp_path):
    raw_dir = mirror(tiny_eeg, tmp_path / "raw")
    path = raw_dir / "raw_data/sub-01/ses-01/raw_eeg_test.npy"
    content = path.read_bytes()
    replace(path, content[: len(content) // 2])
    with pytest.raises(DataError, match=r"raw_eeg_test\.npy: cannot read the raw EEG dict"):
        prepare(raw_dir, tmp_path / "prepared" / "sub-01.zarr")
    assert leftovers(tmp_path / "prepared") == []


def test_unknown_condition_code(tiny_eeg, tmp_path):
    raw_dir = mirror(tiny_eeg, tmp_path / "raw")
    path = raw_dir / "raw_data/sub-01/ses-01/raw_eeg_training.npy"
    raw = np.load(path, allow_pickle=True).item()
    stim = raw["raw_eeg_data"][-1]
    stim[np.flatnonzero((stim > 0) & (stim != EEG_TARGET_CODE))[0]] = 5000
    path.unlink()
    np.save(path, raw, allow_pickle=True)
    with pytest.raises(DataError, match=r"raw_eeg_training\.npy: condition code\(s\) \[5000\]"):
        prepare(raw_dir, tmp_path / "prepared" / "sub-01.zarr")
    assert leftovers(tmp_path / "prepared") == []


def test_subject_that_does_not_exist(tiny_eeg, tmp_path):
    with pytest.raises(DataError, match=r"subject 7 does not exist: no folder .*sub-07"):
        prepare(tiny_eeg, tmp_path / "prepared" / "sub-07.zarr", subject=7)
    assert leftovers(tmp_path / "prepared") == []


def test_stimuli_codes_follow_the_image_metadata(tiny_eeg):
    table = stimulus_table("things_eeg2", tiny_eeg)
    truth_images = pd.read_csv(tiny_eeg / "ground_truth" / "images.tsv", sep="\t")
    assert list(table.split) == list(truth_images.split)
    assert list(table.code) == list(truth_images.code)
    assert list(table.file) == [str(tiny_eeg / f) for f in truth_images.file]
