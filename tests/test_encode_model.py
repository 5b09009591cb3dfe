"""Fitting and evaluating encoding models from a prepared store and a feature matrix."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from encoding_data import linear_problem, stimuli_table, write_prepared
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from bergforge.errors import ConfigError, DataError
from bergforge.evaluation.evaluate import evaluate_subject
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.models.linear.fit import EncodingOptions, fit_model
from bergforge.models.linear.matrix import ArrayFeatures
from bergforge.models.linear.seeds import pca_seed
from bergforge.models.linear.splits import SPLITS, meg_quarters
from bergforge.models.registry import get_kind
from bergforge.preprocess.responses import PreparedResponses
from bergforge.store_checksums import seal_store

N_TRAIN, N_TEST = 64, 12
OPTIONS = {"n_components": 6, "target_block_size": 10, "pca": {"block_size": 128}}


@pytest.fixture(scope="module")
def meg(tmp_path_factory):
    features, train, test = linear_problem(N_TRAIN, N_TEST, seed=1)
    path = write_prepared(tmp_path_factory.mktemp("meg") / "sub-01.zarr", train, test, "meg", 1)
    return path, features, train, test


@pytest.fixture(scope="module")
def eeg(tmp_path_factory):
    features, train, test = linear_problem(N_TRAIN, N_TEST, train_reps=4, seed=2)
    path = write_prepared(tmp_path_factory.mktemp("eeg") / "sub-02.zarr", train, test, "eeg", 2)
    return path, features, train, test


def fit(path, features, split, out, **opts):
    options = EncodingOptions.from_config({**OPTIONS, **opts})
    model = fit_model(
        PreparedResponses(path),
        stimuli_table(N_TRAIN, N_TEST),
        ArrayFeatures(features),
        split,
        options,
        out,
        threads=2,
    )
    seal_model_folder(out)  # as the fit job does after the kind's fit
    return model


def test_seeds_follow_berg():
    assert pca_seed("eeg", 3, "single-2") == 20200220 + 3000 + 20
    assert pca_seed("eeg", 3, "all") == 20200220 + 3000
    assert pca_seed("meg", 1, "all") == int(hashlib.md5(b"1_all").hexdigest(), 16) % 2**31
    assert pca_seed("meg", 1, "single-1") != pca_seed("meg", 2, "single-1")


def test_meg_quarters_are_berg_permutation():
    np.random.seed(20200220)
    perm = np.random.permutation(22248)
    quarters = meg_quarters(22248)
    assert all(np.array_equal(q, perm[k * 5562 : (k + 1) * 5562]) for k, q in enumerate(quarters))


def test_meg_splits_are_disjoint_quarters_and_ols_matches_sklearn(meg, tmp_path):
    path, features, train, _ = meg
    used = []
    for split in SPLITS[1:]:
        model = fit(path, features, split, tmp_path / split)
        used.append(model["train_image_indices"])
        assert model["seeds"]["pca"] == pca_seed("meg", 1, split)
    assert sorted(sum(used, [])) == list(range(N_TRAIN))
    assert len(set(map(len, used))) == 1

    # BERG parity: StandardScaler → PCA → LinearRegression on the same images
    rows = np.array(used[2])
    x = PCA(6, svd_solver="full").fit_transform(StandardScaler().fit_transform(features[rows]))
    y = train[rows, 0].reshape(len(rows), -1)
    ref = LinearRegression().fit(x, y)
    with np.load(tmp_path / "single-3" / "regression.npz") as reg:
        # components may differ in sign only: compare predictions on the training images
        pred = x @ ref.coef_.T + ref.intercept_
        with (
            np.load(tmp_path / "single-3" / "pca.npz") as p,
            np.load(tmp_path / "single-3" / "scaler.npz") as s,
        ):
            xs = (features[rows] - s["mean_"]) / s["scale_"]
            ours = (xs - p["mean_"]) @ p["components_"].T @ reg["coef_"].T + reg["intercept_"]
    np.testing.assert_allclose(ours, pred, rtol=1e-3, atol=1e-3)


def test_eeg_single_splits_are_repetitions(eeg, tmp_path):
    path, features, train, _ = eeg
    model = fit(path, features, "single-2", tmp_path / "m")
    assert model["train_repetitions"] == [1]
    assert model["train_image_indices"] == list(range(N_TRAIN))
    assert model["seeds"]["pca"] == 20200220 + 2 * 1000 + 20
    x = PCA(6, svd_solver="full").fit_transform(StandardScaler().fit_transform(features[:N_TRAIN]))
    ref = LinearRegression().fit(x, train[:, 1].reshape(N_TRAIN, -1))
    with np.load(tmp_path / "m" / "regression.npz") as reg:
        # same sign convention as scikit-learn, so coefficients agree directly
        np.testing.assert_allclose(reg["coef_"], ref.coef_, rtol=1e-3, atol=1e-3)


def test_two_runs_give_byte_identical_model_files(meg, tmp_path):
    path, features, _, _ = meg
    for run in ("a", "b"):
        fit(path, features, "all", tmp_path / run, regression="ridge_cv", folds=3)
    for name in ("scaler.npz", "pca.npz", "regression.npz", "model.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_evaluation_files(meg, tmp_path):
    path, features, _, test = meg
    dirs = {s: tmp_path / s for s in SPLITS}
    for split, folder in dirs.items():
        fit(path, features, split, folder)
    report = evaluate_subject(
        PreparedResponses(path),
        stimuli_table(N_TRAIN, N_TEST),
        ArrayFeatures(features),
        dirs,
        tmp_path / "eval",
        get_kind("linear"),
    )
    with np.load(tmp_path / "eval" / "evaluation.npz") as ev:
        assert list(ev["splits"]) == list(SPLITS)
        assert ev["test_predictions"].shape == (5, N_TEST, 4, 6)
        assert ev["correlation"].shape == (5, 4, 6)
        assert ev["percent_noise_ceiling"].shape == (5, 4, 6)
        assert ev["ncsnr"].shape == ev["noise_ceiling"].shape == (4, 6)
        assert float(ev["n_test_repetitions"]) == pytest.approx(4)
        # the predictions are what the written model gives, and they fit the test average well
        assert np.nanmedian(ev["correlation"]) > 0.9
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary == json.loads(json.dumps(report))
    assert set(summary["splits"]) == set(SPLITS)


def test_bad_inputs_stop_with_one_clear_error(meg, tmp_path):
    path, features, train, test = meg
    with pytest.raises(DataError, match="more training images than components"):
        fit(path, features, "single-1", tmp_path / "a", n_components=16)
    bad = features.copy()
    bad[5, 7] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        fit(path, bad, "all", tmp_path / "b")
    bad_train = train.copy()
    bad_train[3, 0, 1, 2] = np.inf
    bad_path = write_prepared(tmp_path / "bad.zarr", bad_train, test)
    with pytest.raises(DataError, match="infinite"):
        fit(bad_path, features, "all", tmp_path / "c")
    with pytest.raises(ConfigError, match="unknown split"):
        fit(path, features, "single-5", tmp_path / "d")
    assert not (tmp_path / "a").exists() and not (tmp_path / "c" / "model.json").exists()

    fit(path, features, "all", tmp_path / "ok")
    no_test = write_prepared(tmp_path / "notest.zarr", train, np.full_like(test, np.nan))
    with pytest.raises(DataError, match="no test repetitions"):
        evaluate_subject(
            PreparedResponses(no_test),
            stimuli_table(N_TRAIN, N_TEST),
            ArrayFeatures(features),
            {"all": tmp_path / "ok"},
            tmp_path / "eval",
            get_kind("linear"),
        )


@pytest.mark.parametrize("sessions", [True, False], ids=["session-array", "no-session-array"])
def test_batches_average_the_present_repetitions(tmp_path, sessions):
    """With or without a session array, a batch is the mean of the repetitions holding data."""
    import zarr

    rng = np.random.default_rng(3)
    train = rng.standard_normal((20, 3, 2, 5)).astype(np.float32)
    train[[2, 7, 15], 1] = np.nan  # whole missing repetitions
    path = write_prepared(tmp_path / "p.zarr", train, train[:4], chunk=4)
    if not sessions:
        del zarr.open_group(str(path), mode="r+")["train_session"]
        seal_store(path)  # the store changed by hand: its checksums again
    responses = PreparedResponses(path)
    images = np.array([0, 2, 3, 7, 8, 15, 19])
    reps = np.array([0, 1])
    got = np.concatenate([y for _, y in responses.batches("train", images, reps)])
    expected = np.nanmean(train[images][:, reps].astype(np.float64), axis=1).reshape(7, -1)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
