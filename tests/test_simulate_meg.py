"""The simulated THINGS-MEG1 study: real FIF runs, BIDS events, design counts and ground truth."""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest

from bergforge.datasets.sensors import BAD_MEG_SENSOR, meg_sensor_names
from bergforge.simulate.things_meg import END_OF_RUN_TRIGGER, run_stem
from bergforge.simulate.truth import SubjectTruth
from conftest import TINY_MEG

SIM = TINY_MEG["simulation"]


def runs(raw_dir: Path) -> list[tuple[Path, Path]]:
    stems = [
        raw_dir / run_stem(1, s + 1, r + 1)
        for s in range(SIM["n_sessions"])
        for r in range(SIM["runs_per_session"])
    ]
    return [(Path(f"{s}_meg.fif"), Path(f"{s}_events.tsv")) for s in stems]


def test_runs_are_real_fif_with_ctf_names_and_trigger(tiny_meg):
    for fif, events_tsv in runs(tiny_meg):
        raw = mne.io.read_raw_fif(fif, preload=False, verbose="error")
        assert raw.info["sfreq"] == 1200.0
        names = raw.ch_names
        assert names[:-1] == meg_sensor_names() and len(names) == 273
        assert BAD_MEG_SENSOR in names and names[-1] == "UPPT001"
        assert raw.get_channel_types(picks="mag").count("mag") == 272
        assert mne.channels.find_layout(raw.info, ch_type="mag").kind == "CTF-275"

        events = pd.read_csv(events_tsv, sep="\t")
        assert list(events.columns) == [
            "onset",
            "duration",
            "trial_type",
            "things_category_nr",
            "value",
            "sample",
        ]
        found = mne.find_events(raw, "UPPT001", initial_event=True, verbose="error")
        onsets = found[found[:, 2] == 64, 0]
        assert (found[:, 2] == END_OF_RUN_TRIGGER).sum() == 1
        assert len(onsets) == len(events)
        delay = events["sample"].to_numpy() - onsets
        lo, hi = (12, 20)
        assert delay.min() >= lo and delay.max() <= hi, "photodiode onsets follow the trigger"
        np.testing.assert_allclose(events.onset, events["sample"] / 1200.0, atol=1e-6)


def test_design_counts_and_test_repetitions(tiny_meg):
    images = pd.read_csv(tiny_meg / "images" / "image_paths.tsv", sep="\t")
    frames = []
    for session, (_, events_tsv) in enumerate(runs(tiny_meg), start=1):
        ev = pd.read_csv(events_tsv, sep="\t")
        ev["session"] = session
        frames.append(ev)
    ev = pd.concat(frames)
    counts = ev.trial_type.value_counts()
    n_train = SIM["n_train_concepts"] * SIM["images_per_concept"]
    assert counts["exp"] == n_train
    assert counts["test"] == SIM["n_test_images"] * SIM["n_sessions"]
    assert counts["catch"] == SIM["catch_per_run"] * len(frames)
    assert ev.loc[ev.trial_type == "catch", "value"].isna().all()

    exp = ev[ev.trial_type == "exp"].value.astype(int)
    assert exp.is_unique, "each training image is shown once"
    assert set(exp) == set(images.loc[images.split == "train", "image_nr"])
    test = ev[ev.trial_type == "test"]
    per_image = test.groupby(test.value.astype(int)).session.agg(["count", "nunique"])
    assert (per_image["count"] == SIM["n_sessions"]).all()
    assert (per_image["nunique"] == SIM["n_sessions"]).all(), "one repetition per session"
    for path in images.path:
        assert (tiny_meg / "images" / path).is_file()
    assert images.path.str.match(r"images_(meg|test_meg|catch_meg)/").all()


def test_test_average_matches_truth_as_noise_predicts(tiny_meg):
    """Average the raw test epochs by hand; the residual is the noise the truth says it is."""
    truth, extra = SubjectTruth.load(tiny_meg / "ground_truth" / "sub-BIGMEG1_truth.npz")
    image_nrs = list(extra["test_image_nr"])
    times = extra["times"]
    offsets = (np.round(times * 1200)).astype(int)
    n_reps = int(extra["n_test_reps"])
    sums = np.zeros((len(image_nrs), 272, len(times)))
    for fif, events_tsv in runs(tiny_meg):
        raw = mne.io.read_raw_fif(fif, preload=True, verbose="error")
        data = raw.get_data(picks="mag")
        ev = pd.read_csv(events_tsv, sep="\t")
        for row in ev[ev.trial_type == "test"].itertuples():
            sums[image_nrs.index(int(row.value))] += data[:, row.sample + offsets]
    average = sums / n_reps - extra["offset"][:, None]
    true = extra["true_response_test"].astype(float)
    residual = average - true
    # noise variance of an average of n_reps trials, per channel, pooled over images and times
    ratio = residual.var(axis=(0, 2)) / (truth.noise_sd**2 / n_reps)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)

    # correlation over test images: E[r^2] follows the analytic noise ceiling where signal is strong
    nc = extra["noise_ceiling"] / 100
    strong = nc > 0.5
    assert strong.sum() > 1000
    a = average - average.mean(axis=0)
    b = true - true.mean(axis=0)
    with np.errstate(invalid="ignore"):  # truth is constant before onset
        r = (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))
    assert np.median(r[strong] ** 2) == pytest.approx(np.median(nc[strong]), abs=0.05)
    assert np.all(extra["noise_ceiling"][:, times < 0] < 1e-6), "no signal before onset"
