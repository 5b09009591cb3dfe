"""Fixation-onset epochs of the simulated continuous MEG into the trial-indexed store."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest

from bergforge.datasets.avs_fixations import FixationTableSpec, read_fixation_table
from bergforge.datasets.sensors import triux_gradiometer_names
from bergforge.errors import DataError
from bergforge.preprocess.fixation_epo import write_epochs_store
from bergforge.preprocess.fixation_epochs import FixationEpochParams, write_fixation_store
from bergforge.preprocess.trial_responses import PreparedTrials
from bergforge.simulate.avs import AvsSimulation, write_study

SIM = AvsSimulation(seed=5, n_scenes=3, image_size=64, train_subjects=(1, 2, 3, 4))


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    raw_dir = tmp_path_factory.mktemp("avs")
    write_study(raw_dir, SIM)
    spec = FixationTableSpec.from_config(
        json.loads((raw_dir / "study.json").read_text())["fixation_table"]
    )
    raw = mne.io.read_raw_fif(
        raw_dir / "sub-02" / "meg" / "sub-02_task-avs_meg.fif", preload=True, verbose="error"
    )
    table = read_fixation_table(raw_dir / "sub-02" / "sub-02_fixations.tsv", spec)
    return raw, table


def _mne_epochs(raw, table, params):
    events = np.c_[
        raw.first_samp + np.round(table["onset"].to_numpy() * raw.info["sfreq"]).astype(int),
        np.zeros(len(table), int),
        np.ones(len(table), int),
    ]
    epochs = mne.Epochs(
        raw,
        events,
        tmin=params.tmin,
        tmax=params.tmax,
        baseline=params.baseline,
        picks=triux_gradiometer_names(),
        preload=True,
        reject=None,
        flat=None,
        reject_by_annotation=False,
        proj=False,
        verbose="error",
    )
    assert len(epochs) == len(table)
    return epochs


@pytest.mark.parametrize("baseline", [None, (-0.1, 0.0)])
def test_store_matches_mne_epochs_and_a_direct_slice(tmp_path, recording, baseline):
    raw, table = recording
    params = FixationEpochParams(baseline=baseline)
    path = write_fixation_store(
        tmp_path / "sub-02.zarr", raw, table, subject=2, dataset="avs_sim", params=params, block=7
    )
    store = PreparedTrials(path)
    data = store.read()
    assert data.shape == (len(table), 204, 301)
    assert store.coords["channel"] == triux_gradiometer_names()
    np.testing.assert_allclose(store.coords["time"], np.arange(-50, 251) / 500.0)
    assert store.sampling_period == pytest.approx(1 / 500)
    ref = _mne_epochs(raw, table, params).get_data()
    np.testing.assert_allclose(data, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    # a direct slice of the raw array (no baseline) for three fixations
    if baseline is None:
        full = raw.get_data()
        for k in (0, len(table) // 2, len(table) - 1):
            s = int(round(table["onset"].iat[k] * 500))
            np.testing.assert_array_equal(data[k], full[:, s - 50 : s + 251].astype(np.float32))
    trials = store.trials
    assert trials["trial"].tolist() == table["trial"].tolist()  # table order, never reordered
    assert trials["image"].tolist() == [str(s) for s in table["scene"]]
    np.testing.assert_array_equal(trials["has_next"], table["has_next"])


def test_epoch_outside_the_recording_is_refused(tmp_path, recording):
    raw, table = recording
    late = table.copy()
    late.loc[late.index[-1], "onset"] = raw.times[-1] - 0.1
    with pytest.raises(DataError, match=rf"fixation row {len(table) - 1} .*leaves the recording"):
        write_fixation_store(tmp_path / "bad.zarr", raw, late, subject=2, dataset="avs_sim")
    assert not (tmp_path / "bad.zarr").exists()


def test_recording_without_the_gradiometers_is_refused(tmp_path, recording):
    raw, table = recording
    fewer = raw.copy().drop_channels(["MEG0112"])
    with pytest.raises(
        DataError, match=r"lacks 1 of the 204 TRIUX gradiometers \(first \['MEG0112'\]\)"
    ):
        write_fixation_store(tmp_path / "bad.zarr", fewer, table, subject=2, dataset="avs_sim")


def _epo_file(tmp_path, raw, table, order=None):
    epochs = _mne_epochs(raw, table, FixationEpochParams())
    meta = table[["trial", "fixation"]].rename(columns={"trial": "trial_id", "fixation": "fix_id"})
    if order is not None:
        meta = meta.iloc[order].reset_index(drop=True)
    epochs.metadata = meta.reset_index(drop=True)
    path = tmp_path / "sub-02-epo.fif"
    epochs.save(path, overwrite=True, verbose="error")
    return path


IDS = {"trial": "trial_id", "fixation": "fix_id"}


def test_published_epochs_into_the_store(tmp_path, recording):
    raw, table = recording
    epo = _epo_file(tmp_path, raw, table)
    path = write_epochs_store(
        tmp_path / "s.zarr", epo, table, subject=2, dataset="avs", id_columns=IDS, block=5
    )
    store = PreparedTrials(path)
    ref = _mne_epochs(raw, table, FixationEpochParams()).get_data()
    np.testing.assert_allclose(store.read(), ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    assert store.trials["fixation"].tolist() == table["fixation"].tolist()


def test_published_epochs_in_another_order_are_refused(tmp_path, recording):
    raw, table = recording
    order = np.r_[1, 0, np.arange(2, len(table))]
    epo = _epo_file(tmp_path, raw, table, order)
    with pytest.raises(
        DataError,
        match=r"row 0 is \(trial, fixation\) = \(1, 1\) but epoch 0 is "
        r"\(1, 2\).*another order",
    ):
        write_epochs_store(
            tmp_path / "s.zarr", epo, table, subject=2, dataset="avs", id_columns=IDS
        )
    assert not (tmp_path / "s.zarr").exists()
    with pytest.raises(DataError, match=r"metadata lacks \['fix_nr'\]"):
        write_epochs_store(
            tmp_path / "s.zarr",
            epo,
            table,
            subject=2,
            dataset="avs",
            id_columns={"trial": "trial_id", "fixation": "fix_nr"},
        )
