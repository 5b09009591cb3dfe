"""THINGS-MEG1 preprocessing on the tiny simulated study: layout, an MNE reference, recovery, errors."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
import zarr
from preprocess_helpers import column_correlation, leftovers, mirror, replace

from bergforge.datasets.sensors import BAD_MEG_SENSOR, MEG_PREFIXES, meg_sensor_names
from bergforge.errors import DataError
from bergforge.preprocess import meg
from bergforge.preprocess.params import meg_params
from bergforge.preprocess.stimuli import COLUMNS, stimulus_table, write_stimuli
from bergforge.simulate.things_meg import run_stem
from bergforge.simulate.truth import SubjectTruth
from conftest import TINY_MEG

SIM = TINY_MEG["simulation"]
N_SESSIONS, N_RUNS = SIM["n_sessions"], SIM["runs_per_session"]
N_TRAIN = SIM["n_train_concepts"] * SIM["images_per_concept"]


def prepare(raw_dir, out, subject=1):
    return meg.prepare_subject(raw_dir, subject, out, meg_params(), N_SESSIONS, N_RUNS, "tiny")


@pytest.fixture(scope="module")
def prepared(tiny_meg, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared_meg") / "sub-01.zarr"
    prepare(tiny_meg, out)
    return zarr.open_group(out, mode="r")


def test_shapes_times_sensors_and_attributes(prepared):
    assert prepared["train"].shape == (N_TRAIN, 1, 271, 281)
    assert prepared["test"].shape == (SIM["n_test_images"], N_SESSIONS, 271, 281)
    assert prepared["train"].dtype == np.float32
    attrs = prepared.attrs
    times = np.asarray(attrs["times"])
    assert len(times) == 281 and times[0] == pytest.approx(-0.1) and times[-1] == pytest.approx(1.3)
    np.testing.assert_allclose(np.diff(times), 0.005, atol=1e-9)
    expected = [n for n in meg_sensor_names() if n != BAD_MEG_SENSOR]
    assert attrs["channels"] == expected and BAD_MEG_SENSOR not in attrs["channels"]
    assert set(attrs["sensor_prefixes"]) <= set(MEG_PREFIXES)
    assert attrs["sensor_hemispheres"][0] in {"Left", "Right", "Midline"}
    assert attrs["modality"] == "meg" and attrs["ch_type"] == "mag" and attrs["subject"] == 1
    assert attrs["dims"] == ["image", "repetition", "channel", "time"]
    assert attrs["baseline_mode"] == "zscore" and attrs["preprocessing"]["l_freq"] == 0.1
    assert prepared["train"].chunks[1:] == (1, 271, 281), "all reps/channels/times in a chunk"


def test_every_image_has_its_repetitions_and_no_catch_trial(prepared, tiny_meg):
    train, test = prepared["train"][:], prepared["test"][:]
    assert not np.isnan(train).any(), "each training image once"
    assert not np.isnan(test).any(), "each test image once per session"
    sessions = prepared["test_session"][:]
    assert (np.sort(sessions, axis=1) == np.arange(1, N_SESSIONS + 1)).all()
    assert (prepared["train_run"][:] == 1).all()
    events = pd.concat(
        pd.read_csv(f"{tiny_meg / run_stem(1, s + 1, 1)}_events.tsv", sep="\t")
        for s in range(N_SESSIONS)
    )
    n_catch = (events.trial_type == "catch").sum()
    assert n_catch > 0
    assert train.shape[0] * 1 + test.shape[0] * test.shape[1] == len(events) - n_catch


def test_stimuli_table_matches_the_arrays(prepared, tiny_meg, tmp_path):
    table = write_stimuli("things_meg1", tiny_meg, tmp_path / "stimuli.tsv")
    written = pd.read_csv(tmp_path / "stimuli.tsv", sep="\t")
    assert list(written.columns) == COLUMNS
    assert list(written.split) == ["train"] * N_TRAIN + ["test"] * SIM["n_test_images"]
    assert (written["index"][written.split == "test"] == np.arange(SIM["n_test_images"])).all()
    assert all((tiny_meg / "x").parent.joinpath(f).is_file() for f in table.file)
    assert not written.concept.str.startswith("catch").any()


def test_one_run_matches_the_same_steps_written_with_mne(prepared, tiny_meg):
    stem = tiny_meg / run_stem(1, 2, 1)
    raw = mne.io.read_raw_fif(f"{stem}_meg.fif", preload=True, verbose="error")
    tsv = pd.read_csv(f"{stem}_events.tsv", sep="\t")
    events = mne.find_events(raw, "UPPT001", initial_event=True, verbose="error")
    events = events[events[:, 2] == 64]
    events[:, 0] = tsv["sample"]
    keep = (tsv.trial_type != "catch").to_numpy()
    events[:, 2] = pd.to_numeric(tsv["value"], errors="coerce").fillna(999999).astype(int)
    raw.drop_channels(["MRO11-1609"])
    raw.filter(0.1, 40.0, verbose="error")
    epochs = mne.Epochs(
        raw,
        events[keep],
        tmin=-0.1,
        tmax=1.3,
        picks="mag",
        baseline=None,
        preload=True,
        verbose="error",
    )
    data = mne.baseline.rescale(epochs.get_data(), epochs.times, (None, 0), mode="zscore")
    reference = data[:, :, ::6]  # decimation by 6 keeps every 6th sample from t = −0.1 s

    stimuli = stimulus_table("things_meg1", tiny_meg).set_index("code")
    for k, (trial, value) in enumerate(tsv.loc[keep, ["trial_type", "value"]].to_numpy()):
        row = stimuli.loc[int(value)]
        split = "train" if trial == "exp" else "test"
        rep = int(np.flatnonzero(prepared[f"{split}_session"][row["index"]] == 2)[0])
        got = prepared[split][row["index"], rep]
        np.testing.assert_allclose(got, reference[k], rtol=1e-4, atol=1e-4)


def test_test_averages_recover_the_true_responses(prepared, tiny_meg):
    truth, extras = SubjectTruth.load(tiny_meg / "ground_truth" / "sub-BIGMEG1_truth.npz")
    stimuli = stimulus_table("things_meg1", tiny_meg)
    assert (stimuli.code[stimuli.split == "test"].to_numpy() == extras["test_image_nr"]).all()
    keep = [i for i, c in enumerate(truth.channels) if c != BAD_MEG_SENSOR]
    average = prepared["test"][:].mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = column_correlation(average, extras["true_response_test"][:, keep])
    expected = np.sqrt(extras["noise_ceiling"][keep] / 100)
    signal = expected > 0.7
    assert signal.sum() > 1000
    # z-scoring each epoch against its own baseline costs a little, so allow 10 % below the ceiling
    assert np.median(r[signal]) > 0.9 * np.median(expected[signal])
    assert np.median(r[signal]) < np.median(expected[signal]) + 0.05
    null = (expected < 0.1) & np.isfinite(r)  # the truth is constant before the onset: r undefined
    assert np.median(np.abs(r[null])) < 0.3


# ---- bad input: one clear error naming the file; nothing left behind ------------------------


def test_missing_run_names_the_file(tiny_meg, tmp_path):
    raw_dir = mirror(tiny_meg, tmp_path / "raw")
    (raw_dir / f"{run_stem(1, 2, 1)}_meg.fif").unlink()
    with pytest.raises(DataError, match=r"missing run: .*ses-02_task-main_run-01_meg\.fif"):
        prepare(raw_dir, tmp_path / "prepared" / "sub-01.zarr")
    assert leftovers(tmp_path / "prepared") == []


def test_events_table_disagreeing_with_triggers(tiny_meg, tmp_path):
    raw_dir = mirror(tiny_meg, tmp_path / "raw")
    events = raw_dir / f"{run_stem(1, 1, 1)}_events.tsv"
    table = pd.read_csv(events, sep="\t")
    replace(events, table.iloc[:-1].to_csv(sep="\t", index=False).encode())
    with pytest.raises(
        DataError, match=r"run-01_events\.tsv: \d+ rows but the run has \d+ UPPT001"
    ):
        prepare(raw_dir, tmp_path / "prepared" / "sub-01.zarr")
    assert leftovers(tmp_path / "prepared") == []


def test_truncated_run_after_others_were_staged(tiny_meg, tmp_path):
    raw_dir = mirror(tiny_meg, tmp_path / "raw")
    fif = raw_dir / f"{run_stem(1, 2, 1)}_meg.fif"  # session 1 is staged before it fails
    content = fif.read_bytes()
    replace(fif, content[: len(content) // 3])
    with pytest.raises(DataError, match=rf"{fif.name}: cannot read the MEG run"):
        prepare(raw_dir, tmp_path / "prepared" / "sub-01.zarr")
    assert leftovers(tmp_path / "prepared") == []


def test_subject_that_does_not_exist(tiny_meg, tmp_path):
    with pytest.raises(DataError, match=r"subject 9 does not exist: no folder .*sub-BIGMEG9"):
        prepare(tiny_meg, tmp_path / "prepared" / "sub-09.zarr", subject=9)
    assert leftovers(tmp_path / "prepared") == []


@pytest.fixture(scope="module")
def ctf_study(tiny_meg, tmp_path_factory):
    """The tiny study with every run rewritten as a CTF ``.ds`` folder (and no FIF left)."""
    from ctf_files import write_ctf_ds

    raw_dir = mirror(tiny_meg, tmp_path_factory.mktemp("ctf") / "raw")
    readback = {}
    for fif in sorted(raw_dir.rglob("*_meg.fif")):
        raw = mne.io.read_raw_fif(fif, preload=True, verbose="error")
        n = raw.n_times
        trial = next(d for d in range(1200, 0, -1) if n % d == 0)  # CTF stores fixed-size trials
        meg_picks = mne.pick_types(raw.info, meg="mag")
        folder = fif.with_suffix(".ds")
        readback[folder.name] = write_ctf_ds(
            folder,
            raw.get_data(picks=meg_picks),
            [raw.ch_names[i] for i in meg_picks],
            raw.get_data(picks="UPPT001")[0],
            raw.info["sfreq"],
            trial,
        )
        fif.unlink()
    return raw_dir, readback


def test_ctf_runs_read_as_written(ctf_study):
    """MNE reads the .ds folders as MEG sensors, references, trigger and ADC, with G3BR comps."""
    raw_dir, readback = ctf_study
    folder = next(raw_dir.rglob("*_run-01_meg.ds"))
    raw = meg.things_meg.read_run(folder)
    assert raw.info["sfreq"] == 1200.0
    types = raw.get_channel_types()
    assert types.count("mag") == 272 and types.count("ref_meg") == 7
    assert raw.get_channel_types(picks="UPPT001") == ["stim"]
    assert raw.compensation_grade == 3
    written = readback[folder.name]
    np.testing.assert_allclose(
        raw.get_data(picks=raw.ch_names),
        np.stack([written[n] for n in raw.ch_names]),
        rtol=1e-12,
        atol=0,
    )


def test_ctf_runs_give_the_prepared_store_of_the_fif_runs(ctf_study, prepared, tmp_path):
    """The raw-runs route on CTF .ds folders (the real format) equals the route on FIF files."""
    raw_dir, _ = ctf_study
    assert not list(raw_dir.rglob("*_meg.fif"))
    prepare(raw_dir, tmp_path / "sub-01.zarr")
    from_ctf = zarr.open_group(tmp_path / "sub-01.zarr", mode="r")
    assert list(from_ctf.attrs["channels"]) == list(prepared.attrs["channels"])
    for split in ("train", "test"):
        a, b = from_ctf[split][:], prepared[split][:]
        assert a.shape == b.shape
        # float32 rounding apart (measured 2e-6 on values up to 28)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * np.abs(b).max())


def test_truncated_ctf_run_names_the_folder(ctf_study, tmp_path):
    import shutil

    raw_dir, _ = ctf_study
    source = next(raw_dir.rglob("*_run-01_meg.ds"))
    folder = shutil.copytree(source, tmp_path / source.name)
    meg4 = next(folder.glob("*.meg4"))
    meg4.write_bytes(meg4.read_bytes()[:-1000])
    with pytest.raises(DataError, match="not an even multiple of the trial size") as err:
        meg.things_meg.read_run(folder)
    assert str(err.value).startswith(f"{folder}: cannot read the MEG run")


def test_known_dropout_is_replaced_by_the_channel_medians(tiny_meg):
    """THINGS-data step1's patch: 0.2 s = 240 samples at 1200 Hz from the nearest sample."""
    from bergforge.datasets import things_meg

    raw = mne.io.read_raw_fif(
        tiny_meg / f"{run_stem(1, 1, 1)}_meg.fif", preload=True, verbose="error"
    )
    before = raw.get_data()
    things_meg.patch_dropout(raw, 1.2004)
    after = raw.get_data()
    start = 1440  # 1.2004 s × 1200 Hz = 1440.48 → nearest sample 1440
    assert abs(raw.times[start] - 1.2004) < 0.5 / 1200
    np.testing.assert_array_equal(
        after[:, start : start + 240], np.repeat(np.median(before, axis=1)[:, None], 240, axis=1)
    )
    outside = np.ones(before.shape[1], bool)
    outside[start : start + 240] = False
    np.testing.assert_array_equal(after[:, outside], before[:, outside])


def test_dropout_table_reaches_its_run(tiny_meg, prepared, tmp_path, monkeypatch):
    """A dropout listed for (subject 1, session 2, run 1) changes that session's epochs only."""
    from bergforge.datasets import things_meg

    events = pd.read_csv(tiny_meg / f"{run_stem(1, 2, 1)}_events.tsv", sep="\t")
    test_onset = events.loc[events.trial_type == "test", "sample"].iloc[0] / 1200
    monkeypatch.setattr(things_meg, "DROPOUTS", {(1, 2, 1): test_onset + 0.3})
    prepare(tiny_meg, tmp_path / "sub-01.zarr")
    patched = zarr.open_group(tmp_path / "sub-01.zarr", mode="r")
    test, before = patched["test"][:], prepared["test"][:]
    np.testing.assert_array_equal(test[:, 0], before[:, 0])  # session 1 untouched
    changed = np.abs(test[:, 1] - before[:, 1]).max(axis=(1, 2)) > 1e-3
    assert 1 <= changed.sum() < len(changed)
