"""Simulated NSD study → GLMsingle → prepared store, checked against the simulator's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import zarr

from bergforge.datasets.grayordinates import grayordinate_space
from bergforge.datasets.mosaic import NsdStimuli
from bergforge.errors import DataError
from bergforge.preprocess.betas_file import BetasFile, write_betas
from bergforge.preprocess.fmri import (
    read_subject_runs,
    stimulus_rows,
    subject_betas,
    write_prepared_subject,
)
from bergforge.simulate.nsd import NsdSimulation, write_study

SIM = NsdSimulation(vertices_per_group=15, n_shared_images=8, n_subject_images=16, image_size=32)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    raw = tmp_path_factory.mktemp("nsd")
    write_study(raw, SIM, [1, 2])
    return raw


def test_study_files_use_real_grayordinates(study):
    truth = np.load(study / "ground_truth" / "sub-01.npz")
    space = grayordinate_space()
    g = truth["grayordinates"]
    assert g.size == 4 * 15 and np.all(np.diff(g) > 0)
    assert np.isin(g, space.vertex_mapping_all).all()
    assert sorted(set(space.group[g])) == list(SIM.groups)
    with NsdStimuli(study / "nsd_stimuli.hdf5") as stim:
        assert len(stim) == 8 + 2 * 16
        assert stim.read([1]).shape == (1, 32, 32, 3)
    events = pd.read_csv(
        study / "sub-02/ses-02/func/sub-02_ses-02_task-nsdcore_run-01_events.tsv", sep="\t"
    )
    assert {"onset", "duration", "image_73k_id", "shared"} <= set(events.columns)
    assert np.all(truth["noise_ceiling_trial_avg"] >= truth["noise_ceiling_trial_1"])


def test_prepared_store_recovers_true_betas(study, tmp_path):
    tables, betas = {}, {}
    for s in (1, 2):
        runs = read_subject_runs(study, s)
        betas[s], tables[s] = subject_betas(runs, out_dir=tmp_path / f"glmsingle-{s}")
    assert (tmp_path / "glmsingle-1" / "TYPED_FITHRF_GLMDENOISE_RR.npz").is_file()
    stimuli = stimulus_rows(tables)
    assert list(stimuli["split"]) == ["train"] * 32 + ["test"] * 8
    out = tmp_path / "sub-01.zarr"
    path = tmp_path / "betas-01.npz"
    table = {c: tables[1][c].to_numpy() for c in tables[1].columns}
    write_betas(path, [betas[1].T], betas[1].shape[1], runs.grayordinates, table)
    write_prepared_subject(BetasFile(path), stimuli, out, "demo_nsd", 1)
    group = zarr.open_group(str(out), mode="r")
    train, test = group["train"][:], group["test"][:]
    assert train.shape == (32, 3, 60) and test.shape == (8, 3, 60)
    assert group.attrs["dims"] == ["image", "repetition", "vertex"]
    # subject 1 saw only its own 16 training images: the other 16 rows are all NaN
    seen = ~np.isnan(train).all(axis=(1, 2))
    assert seen.sum() == 16 and not np.isnan(test).any()
    assert (group["train_session"][:][seen] > 0).all()
    # repetition-averaged betas track the true condition betas on signal vertices
    truth = np.load(study / "ground_truth" / "sub-01.npz")
    ids = stimuli.loc[stimuli["split"] == "train", "image_73k_id"].to_numpy()[seen]
    true = truth["condition_betas"][:, [list(truth["image_73k_id"]).index(i) for i in ids]]
    est = np.nanmean(train[seen], axis=1).T
    sig = truth["signal"]
    r = [np.corrcoef(est[v], true[v])[0, 1] for v in np.flatnonzero(sig)]
    assert np.median(r) > 0.6


def test_missing_runs_are_clear(tmp_path):
    (tmp_path / "experiment.json").write_text('{"tr": 1, "stimdur": 3, "grayordinates": [1, 2]}')
    with pytest.raises(DataError, match="no ses-\\*/func"):
        read_subject_runs(tmp_path, 3)
    with pytest.raises(DataError, match="experiment.json"):
        read_subject_runs(tmp_path / "nowhere", 1)
