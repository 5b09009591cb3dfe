"""The neuralbench-style MEG/EEG decoding windows (preprocess/meeg_windows, meeg_decoding): each
step against an independent computation written here (scikit-learn's RobustScaler, least-squares
sine amplitudes, a loop over windows, MNE + scikit-learn for a whole run), the per-subject jobs on
the tiny simulated studies (trial tables checked against the raw files), and bad input."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
from preprocess_helpers import leftovers, mirror
from sklearn.preprocessing import RobustScaler

from bergforge.datasets.sensors import BAD_MEG_SENSOR, EEG_CHANNELS, EEG_TARGET_CODE
from bergforge.errors import ConfigError, DataError
from bergforge.preprocess import meeg_decoding
from bergforge.preprocess.meeg_windows import (
    NeuralbenchParams,
    cut_windows,
    filter_recording,
    neuralbench_params,
    normalise_positions,
    notch_frequencies,
    preprocess_recording,
    robust_scale,
    sensor_positions,
    window_starts,
)
from bergforge.preprocess.trial_responses import PreparedTrials
from conftest import TINY_EEG, TINY_MEG

PARAMS = NeuralbenchParams()
#: the MEG job's settings: shorter filters (1 Hz high-pass, 60 Hz notches only) keep it quick; the
#: default filters are checked on sines below and run end to end in the EEG job
LIGHT = NeuralbenchParams(l_freq=1.0, notch=(60.0,))
MEG_SIM, EEG_SIM = TINY_MEG["simulation"], TINY_EEG["simulation"]
#: the MEG job reads the first 2 of the tiny study's 3 sessions (one run each)
MEG_SESSIONS = 2


def sine_amplitude(signal: np.ndarray, freq: float, sfreq: float) -> float:
    """Amplitude of the ``freq`` sinusoid in ``signal``, by least squares on sin and cos."""
    t = np.arange(signal.size) / sfreq
    design = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    coef, *_ = np.linalg.lstsq(design, signal, rcond=None)
    return float(np.hypot(*coef))


def raw_array(data: np.ndarray, sfreq: float, kind: str = "eeg"):
    names = [f"C{i}" for i in range(len(data))]
    return mne.io.RawArray(data, mne.create_info(names, sfreq, kind), verbose="error")


# --- the steps ---------------------------------------------------------------------------------


def test_settings_are_neuralbenchs_and_bad_ones_are_one_error_each():
    assert (PARAMS.sfreq, PARAMS.l_freq, PARAMS.h_freq, PARAMS.clamp) == (120.0, 0.1, 75.0, 20.0)
    assert PARAMS.n_samples == 120 and PARAMS.baseline_samples == (0, 24)
    np.testing.assert_allclose(PARAMS.times(), np.round(-0.2 + np.arange(120) / 120, 6))
    record = PARAMS.record()
    assert record["baseline_from_onset"] == pytest.approx([-0.2, 0.0])
    assert record["notch"] == [50.0, 60.0] and record["variant"] == "neuralbench"
    assert neuralbench_params({"clamp": 5, "notch": [50]}).notch == (50.0,)
    bad = {
        "baseline": [0.5, 0.2],
        "clamp": 0,
        "notch": 50,
        "l_freq": 80.0,
        "validation_fraction": 1.0,
    }
    for key, value in bad.items():
        with pytest.raises(ConfigError, match=rf"^preprocess\.neuralbench: .*{key}"):
            neuralbench_params({key: value})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['window'\]"):
        neuralbench_params({"window": 1.0})


def test_notch_frequencies_are_the_harmonics_below_nyquist_and_301_hz():
    both = [50.0, 60.0, 100.0, 120.0, 150.0, 180.0, 200.0, 240.0, 250.0, 300.0]
    assert notch_frequencies((50.0, 60.0), 1000.0, 300.0) == both  # THINGS-EEG2
    assert notch_frequencies((50.0, 60.0), 1200.0, 300.0) == both  # THINGS-MEG1
    assert notch_frequencies((50.0, 60.0), 240.0, 300.0) == [50.0, 60.0, 100.0]  # not 120 = Nyquist
    assert notch_frequencies((50.0, 60.0), 100.0, 300.0) == []


def test_filters_pass_10_hz_and_remove_line_noise_high_frequencies_and_dc():
    """Sines of known amplitude through notch + band-pass, measured by least squares away from
    the edges: 10 and 40 Hz pass, 50/60/100/120 Hz (notches) and 110 Hz (above the 75 Hz
    low-pass) are gone, and a constant offset is removed by the 0.1 Hz high-pass."""
    sfreq, seconds = 1000.0, 60
    t = np.arange(int(sfreq * seconds)) / sfreq

    def sine(f):
        return np.sin(2 * np.pi * f * t + 0.3)

    data = np.vstack(
        [
            sine(10) + sine(50) + 5.0,
            sine(40) + sine(60) + sine(100),
            sine(120) + sine(110),
        ]
    )
    raw = raw_array(data.copy(), sfreq)
    filter_recording(raw, PARAMS)
    out = raw.get_data()[:, int(20 * sfreq) : int(40 * sfreq)]  # away from the 33 s filter's edges
    amp = {
        (c, f): sine_amplitude(out[c], f, sfreq)
        for c, fs in enumerate([(10, 50), (40, 60, 100), (120, 110)])
        for f in fs
    }
    assert amp[0, 10] == pytest.approx(1.0, abs=0.01) and amp[1, 40] == pytest.approx(1.0, abs=0.01)
    for key in [(0, 50), (1, 60), (1, 100), (2, 120), (2, 110)]:
        assert amp[key] < 0.02, (key, amp[key])
    assert abs(out[0].mean()) < 0.02  # the 5.0 offset


def test_robust_scaling_is_sklearns_robust_scaler_per_channel():
    rng = np.random.default_rng(0)
    data = rng.standard_t(3, size=(4, 997)) * [[1e-13], [2.0], [30.0], [1.0]]
    data[3] = 7.0  # a constant channel: centred, not divided
    expected = RobustScaler().fit_transform(data.T).T
    np.testing.assert_allclose(robust_scale(data), expected, rtol=1e-12, atol=1e-12)
    q25, q50, q75 = np.percentile(robust_scale(data)[:3], [25, 50, 75], axis=1)
    np.testing.assert_allclose(q50, 0, atol=1e-12)
    np.testing.assert_allclose(q75 - q25, 1, atol=1e-12)


def test_windows_baseline_and_clamp_against_a_loop():
    """120 samples from round((onset − 0.2) · 120), minus the mean of their first 24, clipped to
    ±20, as a plain loop computes them."""
    rng = np.random.default_rng(1)
    scaled = np.cumsum(rng.standard_normal((3, 2200)), axis=1)  # random walks: some |x| > 20
    onsets = np.array([1.0, 2.345, 10.0, 16.0])
    starts = window_starts(onsets, scaled.shape[1], PARAMS, "x")
    assert starts.tolist() == [96, 257, 1176, 1896]
    windows = cut_windows(scaled, starts, PARAMS)
    assert windows.shape == (4, 3, 120) and windows.dtype == np.float32
    for k, onset in enumerate(onsets):
        first = int(round((onset - 0.2) * 120))
        segment = scaled[:, first : first + 120]
        expected = np.clip(segment - segment[:, :24].mean(axis=1, keepdims=True), -20, 20)
        np.testing.assert_allclose(windows[k], expected, rtol=1e-6, atol=1e-5)
    assert np.abs(windows).max() == pytest.approx(20.0) and (np.abs(windows) == 20).any()


def test_a_recording_gives_aligned_windows_with_zero_baseline():
    """A 1 kHz recording with a 15 Hz burst 300–400 ms after each onset: the windows hold the
    burst at samples 24 + 36…48 (zero-phase filters, resampling without shift) and their first
    24 samples average to 0."""
    sfreq = 1000.0
    rng = np.random.default_rng(2)
    data = 0.2 * rng.standard_normal((2, int(40 * sfreq)))
    onsets = np.array([2.0, 7.5, 13.25, 20.0, 31.1])
    burst_t = np.arange(int(0.1 * sfreq)) / sfreq
    for onset in onsets:
        first = int(round((onset + 0.3) * sfreq))
        data[:, first : first + burst_t.size] += 3 * np.sin(2 * np.pi * 15 * burst_t)
    windows = preprocess_recording(raw_array(data, sfreq), onsets, PARAMS, "rec")
    assert windows.shape == (5, 2, 120)
    np.testing.assert_allclose(windows[:, :, :24].mean(axis=2), 0, atol=1e-5)
    energy = (windows**2).mean(axis=(0, 1))
    inside = energy[24 + 36 : 24 + 48].mean()
    assert inside > 10 * energy[:24].mean() and inside > 10 * energy[24 + 60 :].mean()


def test_sensor_positions_and_their_normalisation(tmp_path):
    eeg, where = sensor_positions(
        mne.create_info(list(EEG_CHANNELS[:5]), 1000.0, "eeg"), "eeg", "x"
    )
    montage = mne.channels.make_standard_montage("easycap-M1").get_positions()["ch_pos"]
    np.testing.assert_allclose(eeg, [montage[n] for n in EEG_CHANNELS[:5]])
    assert where.startswith("montage easycap-M1 (3-D")
    with pytest.raises(DataError, match=r"^x: channels without easycap-M1 positions: \['Nope'\]"):
        sensor_positions(mne.create_info(["Cz", "Nope"], 1000.0, "eeg"), "eeg", "x")
    flat, where = sensor_positions(
        mne.create_info(["MLC11-1609", "MRO11-1609"], 1.0, "mag"), "meg", "x"
    )
    assert flat.shape == (2, 2) and where == "MNE CTF275 layout (2-D)"
    norm = normalise_positions(np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 7.0], [1.0, 1.0, 6.0]]))
    np.testing.assert_allclose(norm, [[0, 0.5, 0], [1, 0.5, 1], [0.5, 0.5, 0.5]])


def test_ctf_runs_give_3d_sensor_positions(tmp_path):
    """A CTF run stores its sensors' locations: 3-D, with the distances between the sensors as
    written (coil positions in cm; MNE gives metres in the device frame)."""
    from ctf_files import _sensor_positions, write_ctf_ds

    names = ["MLC11-1609", "MRC11-1609", "MZO01-1609", "MLT14-1609", "MRF22-1609"]
    rng = np.random.default_rng(3)
    folder = tmp_path / "x_meg.ds"
    write_ctf_ds(folder, rng.standard_normal((5, 600)) * 1e-13, names, np.zeros(600), 1200.0, 600)
    raw = mne.io.read_raw_ctf(folder, verbose="error").pick("mag")
    positions, where = sensor_positions(raw.info, "meg", folder)
    assert positions.shape == (5, 3) and where == "recording (3-D, m, device frame)"
    written = _sensor_positions(raw.ch_names)[0] / 100

    def distances(p):
        return np.linalg.norm(p[:, None] - p[None], axis=2)

    np.testing.assert_allclose(distances(positions), distances(written), atol=1e-6)


def test_bad_recordings_are_one_error_each():
    data = np.random.default_rng(4).standard_normal((2, 5000))
    with pytest.raises(DataError, match=r"^rec: 1 of 2 windows .* fall outside the recording"):
        preprocess_recording(raw_array(data, 1000.0), np.array([1.0, 4.5]), PARAMS, "rec")
    with pytest.raises(DataError, match=r"^rec: 1 of 1 windows"):
        preprocess_recording(raw_array(data, 1000.0), np.array([0.1]), PARAMS, "rec")
    with pytest.raises(DataError, match=r"^rec: sampled at 100.0 Hz; expected at least 120"):
        preprocess_recording(raw_array(data, 100.0), np.array([1.0]), PARAMS, "rec")


# --- the subject jobs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meg_store(tiny_meg, tmp_path_factory):
    out = tmp_path_factory.mktemp("decoding_meg") / "sub-01.zarr"
    meeg_decoding.prepare_things_meg1_decoding(
        tiny_meg, 1, out, LIGHT, MEG_SESSIONS, MEG_SIM["runs_per_session"], "tiny"
    )
    return PreparedTrials(out)


@pytest.fixture(scope="module")
def eeg_store(tiny_eeg, tmp_path_factory):
    out = tmp_path_factory.mktemp("decoding_eeg") / "sub-01.zarr"
    meeg_decoding.prepare_things_eeg2_decoding(
        tiny_eeg, 1, out, PARAMS, EEG_SIM["n_sessions"], "tiny"
    )
    return PreparedTrials(out)


def meg_trials_from_files(raw_dir) -> pd.DataFrame:
    """The non-catch trials of every run from the events tables and image_paths.tsv."""
    images = pd.read_csv(raw_dir / "images" / "image_paths.tsv", sep="\t")
    stem = {
        nr: p.rsplit("/", 1)[-1].removesuffix(".jpg")
        for nr, p in zip(images.image_nr, images.path, strict=True)
    }
    rows = []
    for path in sorted(raw_dir.rglob("*_events.tsv")):
        ses, run = (int(path.name.split(f"_{k}-")[1][:2]) for k in ("ses", "run"))
        if ses > MEG_SESSIONS:
            continue
        events = pd.read_csv(path, sep="\t")
        for e in events[events.trial_type != "catch"].itertuples():
            kind = "test" if e.trial_type == "test" else "train"
            rows.append((1, ses, run, stem[int(e.value)], kind, e.sample / 1200.0, int(e.value)))
    return pd.DataFrame(
        rows, columns=["subject", "session", "run", "image", "kind", "onset", "code"]
    )


def test_meg_store_layout_and_trial_table(meg_store, tiny_meg):
    n_runs = MEG_SESSIONS * MEG_SIM["runs_per_session"]
    expected = meg_trials_from_files(tiny_meg)
    assert (expected.kind == "test").sum() == MEG_SIM["n_test_images"] * MEG_SESSIONS
    assert meg_store.target_shape == (271, 120) and meg_store.n_trials == len(expected)
    assert meg_store.dims == ["trial", "channel", "time"] and meg_store.modality == "meg"
    assert BAD_MEG_SENSOR not in meg_store.coords["channel"]
    np.testing.assert_allclose(meg_store.coords["time"], PARAMS.times())
    assert meg_store.sampling_period == pytest.approx(1 / 120)
    table = meg_store.trials
    for column in ("subject", "session", "run", "image", "code"):
        assert table[column].tolist() == expected[column].tolist(), column
    np.testing.assert_allclose(table.onset, expected.onset)
    assert (table.split == "test").tolist() == (expected.kind == "test").tolist()
    timelines = list(zip(table.session, table.run, strict=True))
    held_out = {t for t, s in zip(timelines, table.split, strict=True) if s == "validation"}
    assert len(held_out) == int(np.ceil(0.2 * n_runs))  # sklearn rounds up
    assert not any(
        t in held_out and s == "train" for t, s in zip(timelines, table.split, strict=True)
    )
    prep = meg_store.preprocessing
    assert prep["variant"] == "neuralbench" and prep["channel_type"] == "mag"
    assert prep["recording_sfreq"] == 1200.0 and prep["l_freq"] == 1.0
    assert prep["notch_frequencies"] == [60.0, 120.0, 180.0, 240.0, 300.0]
    assert prep["sensor_positions_source"] == "MNE CTF275 layout (2-D)"
    norm = np.asarray(prep["sensor_positions_normalised"])
    assert norm.shape == (271, 2) and norm.min() == 0 and norm.max() == 1
    assert leftovers(meg_store.path.parent) == ["sub-01.zarr"]


def test_meg_run_matches_mne_and_sklearn_written_here(meg_store, tiny_meg):
    """Run 2 recomputed with MNE's notch/filter/resample (the job's settings), scikit-learn's
    RobustScaler and numpy windows: the stored trials of that run, within float32 round-off."""
    fif = next(tiny_meg.rglob("*_ses-02_task-main_run-01_meg.fif"))
    raw = mne.io.read_raw_fif(fif, preload=True, verbose="error")
    raw.drop_channels([BAD_MEG_SENSOR]).pick("mag")
    freqs = [60.0, 120.0, 180.0, 240.0, 300.0]
    raw.notch_filter(freqs, verbose="error").filter(1.0, 75.0, verbose="error")
    raw.resample(120.0, verbose="error")
    scaled = RobustScaler().fit_transform(raw.get_data().T).T
    table = meg_store.trials
    rows = np.flatnonzero(table.session.to_numpy() == 2)
    stored = meg_store.read(rows)
    for k, onset in zip(range(len(rows)), table.onset.to_numpy()[rows], strict=True):
        first = int(np.rint((onset - 0.2) * 120))
        window = scaled[:, first : first + 120]
        expected = np.clip(window - window[:, :24].mean(axis=1, keepdims=True), -20, 20)
        np.testing.assert_allclose(stored[k], expected, rtol=0, atol=1e-5)


def test_eeg_store_layout_and_trial_table(eeg_store, tiny_eeg):
    images = pd.read_csv(tiny_eeg / "ground_truth" / "images.tsv", sep="\t")
    stems = {
        (s, c): f.rsplit("/", 1)[-1].removesuffix(".jpg")
        for s, c, f in zip(images.split, images.code, images.file, strict=True)
    }
    expected = []
    for session in range(1, EEG_SIM["n_sessions"] + 1):
        for run, (partition, split) in enumerate([("training", "train"), ("test", "test")], 1):
            path = tiny_eeg / f"raw_data/sub-01/ses-{session:02d}/raw_eeg_{partition}.npy"
            stim = np.load(path, allow_pickle=True).item()["raw_eeg_data"][-1]
            for sample in np.flatnonzero((stim > 0) & (stim != EEG_TARGET_CODE)):
                code = int(stim[sample])
                expected.append((session, run, stems[split, code], split, sample / 1000.0, code))
    expected = pd.DataFrame(expected, columns=["session", "run", "image", "kind", "onset", "code"])
    table = eeg_store.trials
    assert eeg_store.target_shape == (63, 120) and eeg_store.n_trials == len(expected)
    assert eeg_store.coords["channel"] == list(EEG_CHANNELS) and eeg_store.modality == "eeg"
    for column in ("session", "run", "image", "code"):
        assert table[column].tolist() == expected[column].tolist(), column
    np.testing.assert_allclose(table.onset, expected.onset)
    assert (table.split == "test").tolist() == (expected.kind == "test").tolist()
    validation = table[table.split == "validation"]
    assert set(validation.run) == {1} and validation.session.nunique() == 1  # 1 of 4 sessions
    prep = eeg_store.preprocessing
    assert prep["sensor_positions_source"].startswith("montage easycap-M1 (3-D")
    assert np.asarray(prep["sensor_positions_normalised"]).shape == (63, 3)
    data = eeg_store.read()
    assert np.abs(data).max() <= 20.0
    np.testing.assert_allclose(data[:, :, :24].mean(axis=2), 0, atol=1e-5)


def test_eeg_test_images_repeat_their_windows(eeg_store):
    """The simulated responses survive: averaged over half the repetitions, each test image's
    window is most like its own other half for far more images than chance (1/30) gives (the
    tiny study's images differ along 4 latents only: 10 of 30 are identified)."""
    table, data = eeg_store.read_split("test")
    halves = []
    for part in (0, 1):
        means = []
        for image in sorted(table.image.unique()):
            rows = np.flatnonzero(table.image.to_numpy() == image)
            means.append(data[rows[part::2]].mean(axis=0).ravel())
        halves.append(np.array(means))
    a, b = (h - h.mean(axis=1, keepdims=True) for h in halves)
    r = (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (
        b / np.linalg.norm(b, axis=1, keepdims=True)
    ).T
    assert (r.argmax(axis=1) == np.arange(len(r))).mean() > 5 / 30


def test_channels_that_differ_between_recordings_leave_nothing(tiny_eeg, tmp_path):
    raw_dir = mirror(tiny_eeg, tmp_path / "raw")
    path = raw_dir / "raw_data/sub-01/ses-01/raw_eeg_test.npy"  # the 2nd recording
    raw = np.load(path, allow_pickle=True).item()
    raw = {**raw, "raw_eeg_data": raw["raw_eeg_data"][1:], "ch_names": raw["ch_names"][1:]}
    raw["ch_types"] = raw["ch_types"][1:]
    path.unlink()
    np.save(path, raw, allow_pickle=True)
    out = tmp_path / "prepared" / "sub-01.zarr"
    with pytest.raises(DataError, match=r"ses-01/raw_eeg_test\.npy: channels differ from those"):
        meeg_decoding.prepare_things_eeg2_decoding(raw_dir, 1, out, PARAMS, 4, "tiny")
    assert leftovers(tmp_path / "prepared") == []


def test_missing_run_is_one_error(tiny_meg, tmp_path):
    raw_dir = mirror(tiny_meg, tmp_path / "raw")
    next(raw_dir.rglob("*_ses-03_task-main_run-01_meg.fif")).unlink()
    out = tmp_path / "prepared" / "sub-01.zarr"
    with pytest.raises(DataError, match=r"missing run: .*ses-03_task-main_run-01_meg\.fif"):
        meeg_decoding.prepare_things_meg1_decoding(raw_dir, 1, out, PARAMS, 3, 1, "tiny")
    assert leftovers(tmp_path / "prepared") == []
