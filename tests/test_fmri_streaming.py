"""CNN8 data in bounded memory: own rows of prepared stores, images decoded batch by batch."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import zarr

from bergforge.datasets.mosaic import NsdStimuli
from bergforge.evaluation.cnn8 import seen_rows, seen_test_moments, split_noise_ceilings
from bergforge.evaluation.fmri_metadata import ncsnr, noise_ceilings_91k
from bergforge.export.fmri import stimuli_info
from bergforge.models.cnn8 import streaming
from bergforge.models.cnn8.job import _rowwise_r, train_cnn8_job
from bergforge.models.cnn8.train import SubjectData, TrainConfig, predict, train_multihead
from bergforge.models.cnn8.transform import to_model_input
from bergforge.preprocess.betas_file import BetasFile, write_betas
from bergforge.preprocess.fmri import stimulus_rows, write_prepared_subject
from bergforge.preprocess.own_rows import averaged_targets, seen_values
from bergforge.preprocess.responses import PreparedResponses

N_BRICK, N_VERTICES, SUBJECTS = 400, 6, (1, 2)
CNN8 = {"width": 4, "input_size": 32, "lr": 3e-3, "batch_size": 16, "max_epochs": 2, "seed": 3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _trials(rng: np.random.Generator, own: np.ndarray, shared: np.ndarray) -> pd.DataFrame:
    """1–3 presentations of each image, in shuffled order over three sessions."""
    ids = np.concatenate([own, shared])
    ids = np.repeat(ids, rng.integers(1, 4, ids.size))
    ids = ids[rng.permutation(ids.size)]
    return pd.DataFrame(
        {
            "image_73k_id": ids,
            "session": np.sort(rng.integers(1, 4, ids.size)),
            "run": 1,
            "shared": np.isin(ids, shared),
        }
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 400-image imgBrick (20 × 24 px) and two subjects' stores (chunks of 16 images)."""
    root = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(11)
    with h5py.File(root / "nsd_stimuli.hdf5", "w") as f:
        f["imgBrick"] = rng.integers(0, 256, (N_BRICK, 20, 24, 3), dtype=np.uint8)
    shared = rng.choice(np.arange(1, N_BRICK + 1), 12, replace=False)
    pool = np.setdiff1d(np.arange(1, N_BRICK + 1), shared)
    trials, betas = {}, {}
    for s in SUBJECTS:
        trials[s] = _trials(rng, rng.choice(pool, 60, replace=False), shared)
        betas[s] = rng.normal(0, 1, (N_VERTICES, len(trials[s]))).astype(np.float32)
    stimuli = stimulus_rows(trials)
    stimuli.to_csv(root / "stimuli.tsv", sep="\t", index=False)
    gray = np.arange(N_VERTICES)
    for s in SUBJECTS:
        store = root / f"sub-{s:02d}.zarr"
        path = root / f"betas-{s:02d}.npz"
        table = {c: trials[s][c].to_numpy() for c in trials[s].columns}
        write_betas(path, [betas[s].T], len(trials[s]), gray, table)
        write_prepared_subject(BetasFile(path), stimuli, store, "t", s, chunk_images=16)
    return {"root": root, "trials": trials, "betas": betas, "stimuli": stimuli}


def test_targets_are_repetition_means_of_own_rows(study, tmp_path):
    stimuli, root = study["stimuli"], study["root"]
    train_ids = stimuli.loc[stimuli["split"] == "train", "image_73k_id"].to_numpy()
    trials, betas = study["trials"][1], study["betas"][1]
    own = trials[~trials["shared"]]
    expected = pd.DataFrame(betas[:, own.index].T).groupby(own["image_73k_id"].to_numpy()).mean()
    group = zarr.open_group(str(root / "sub-01.zarr"), mode="r")
    rows, mean = averaged_targets(group, "train", tmp_path / "t.npy")
    assert isinstance(mean, np.memmap) and mean.dtype == np.float32
    np.testing.assert_array_equal(train_ids[rows], expected.index.to_numpy())
    np.testing.assert_allclose(mean, expected.to_numpy(), rtol=1e-6, atol=1e-6)
    full = group["train"][:]  # the old way: whole array, then drop all-NaN rows
    old_rows = np.flatnonzero(~np.isnan(full).all(axis=(1, 2)))
    np.testing.assert_array_equal(rows, old_rows)
    np.testing.assert_array_equal(mean, np.nanmean(full[old_rows], axis=1))
    np.testing.assert_array_equal(seen_values(group, "train")[1], full[old_rows])
    # without the session probe the betas themselves give the same rows
    bare = tmp_path / "bare.zarr"
    shutil.copytree(root / "sub-01.zarr", bare)
    shutil.rmtree(bare / "train_session")
    rows2, mean2 = averaged_targets(
        zarr.open_group(str(bare), mode="r"), "train", tmp_path / "u.npy"
    )
    np.testing.assert_array_equal(rows2, rows)
    np.testing.assert_array_equal(mean2, mean)


def _preloaded_run(root, stimuli: pd.DataFrame, cfg: TrainConfig, checkpoint):
    """The former path: every stimulus decoded up front, whole stores read into memory."""
    with NsdStimuli(root / "nsd_stimuli.hdf5") as stim:
        ids = stimuli["image_73k_id"].to_numpy()
        images = torch.cat(
            [
                to_model_input(torch.from_numpy(b).permute(0, 3, 1, 2), cfg.input_size)
                for b in stim.iter_batches(ids, 64)
            ]
        )
    train, test = {}, {}
    for s in SUBJECTS:
        group = zarr.open_group(str(root / f"sub-{s:02d}.zarr"), mode="r")
        for split, target in (("train", train), ("test", test)):
            rows = np.flatnonzero(stimuli["split"].to_numpy() == split)
            values = group[split][:]
            seen = ~np.isnan(values).all(axis=(1, 2))
            mean = np.nanmean(values[seen], axis=1).astype(np.float32)
            target[f"sub-{s:02d}_NSD"] = SubjectData(images[rows[seen]], torch.from_numpy(mean))
    model, _ = train_multihead(train, cfg, checkpoint)
    r = {n: _rowwise_r(predict(model, d.images, n), d.responses.numpy()) for n, d in test.items()}
    return model, {n: float(np.median(v)) for n, v in r.items()}


def test_cnn8_job_streams_images_and_matches_preloaded_training(study, tmp_path, monkeypatch):
    root, stimuli = study["root"], study["stimuli"]
    decoded = []
    original = NsdStimuli.read

    def counting_read(self, ids_73k):
        decoded.append(len(ids_73k))
        return original(self, ids_73k)

    monkeypatch.setattr(NsdStimuli, "read", counting_read)
    monkeypatch.setattr(streaming, "PRELOAD_BYTES", 0)  # as for image sets too big to preload
    out = tmp_path / "model"
    train_cnn8_job(
        root / "stimuli.tsv",
        root / "nsd_stimuli.hdf5",
        {s: root / f"sub-{s:02d}.zarr" for s in SUBJECTS},
        CNN8,
        out / "model.pt",
        out / "training.json",
    )
    # every decode is one batch at most, never the image set
    assert decoded and max(decoded) <= CNN8["batch_size"] < len(stimuli) < N_BRICK
    n_own = sum(
        int((~t["shared"]).groupby(t["image_73k_id"]).first().sum())
        for t in study["trials"].values()
    )
    assert sum(decoded) >= CNN8["max_epochs"] * n_own  # each epoch decodes its images again
    assert sorted(p.name for p in out.iterdir()) == ["model.pt", "training.json"]
    monkeypatch.setattr(NsdStimuli, "read", original)
    old, old_r = _preloaded_run(root, stimuli, TrainConfig(**CNN8), tmp_path / "old.pt")
    new = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    assert new.keys() == old.state_dict().keys()
    for key, value in old.state_dict().items():
        assert torch.equal(new[key], value), key
    assert json.loads((out / "training.json").read_text())["test_median_r"] == old_r

    # small image sets are decoded once (train and test of each subject) into memory: same bits
    decoded.clear()
    monkeypatch.setattr(NsdStimuli, "read", counting_read)
    monkeypatch.setattr(streaming, "PRELOAD_BYTES", 512 * 2**20)
    small = tmp_path / "preloaded"
    train_cnn8_job(
        root / "stimuli.tsv",
        root / "nsd_stimuli.hdf5",
        {s: root / f"sub-{s:02d}.zarr" for s in SUBJECTS},
        CNN8,
        small / "model.pt",
        small / "training.json",
    )
    assert len(decoded) == 2 * len(SUBJECTS)  # one read per subject and split
    again = torch.load(small / "model.pt", weights_only=True)["state_dict"]
    for key, value in new.items():
        assert torch.equal(again[key], value), key
    assert (small / "training.json").read_text() == (out / "training.json").read_text()


def test_noise_ceilings_and_card_stimuli_from_own_rows_match_full_reads(study):
    root = study["root"]
    store = root / "sub-02.zarr"
    group = zarr.open_group(str(store), mode="r")
    vertices = np.arange(N_VERTICES)
    got = split_noise_ceilings(PreparedResponses(store), vertices)
    info = stimuli_info(store, root / "stimuli.tsv")
    reps = []
    for split in ("train", "test"):
        full = group[split][:]
        rows = seen_rows(full)
        want = noise_ceilings_91k(full[rows], vertices, split)
        for key, value in want.items():  # streamed moments in float64: equal to float32 rounding
            np.testing.assert_allclose(got[key], value, rtol=1e-4, atol=1e-4)
            np.testing.assert_array_equal(np.isnan(got[key]), np.isnan(value))
        reps += list((~np.isnan(full[rows][:, :, 0])).sum(axis=1))
    np.testing.assert_array_equal(info["reps"], reps)
    counts = study["trials"][2].groupby("image_73k_id").size()
    np.testing.assert_array_equal(info["reps"], counts.loc[info["alias"]].to_numpy())


def test_test_images_are_read_chunk_by_chunk_as_the_whole_array(study):
    """The CNN8 evaluation's test rows, means and noise SNR, streamed, against one full read."""
    store = study["root"] / "sub-02.zarr"
    full = zarr.open_group(str(store), mode="r")["test"][:]
    rows, means, moments = seen_test_moments(PreparedResponses(store), full.shape[2])
    np.testing.assert_array_equal(rows, seen_rows(full))
    np.testing.assert_allclose(means, np.nanmean(full[rows], axis=1), rtol=1e-6)
    np.testing.assert_allclose(moments.ncsnr(), ncsnr(full[rows]), rtol=1e-4)
    np.testing.assert_array_equal(moments.repetitions(), (~np.isnan(full[rows][:, :, 0])).sum(1))
