"""The ``ridge_decoder`` core: scikit-learn's pipeline written out in the test gives the same
decoded embeddings, retrieval from them is far above chance, a saved decoder loads to the same
predictions, and bad input is one clear error."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from bergforge.errors import ConfigError, DataError
from bergforge.models.linear.matrix import ArrayFeatures
from bergforge.models.ridge_decoder.model import (
    READOUT,
    RidgeDecoder,
    RidgeDecoderConfig,
    fit_ridge_decoder,
)

N_TRIALS, N_TEST, VALUES, DIMS = 260, 40, 120, 8
CFG = {"n_components": 20, "alphas": [0.1, 10.0, 1000.0, 1e5], "folds": 5}


@pytest.fixture(scope="module")
def problem():
    """Responses made from the trials' embeddings by a linear map plus noise."""
    rng = np.random.default_rng(5)
    embeddings = rng.standard_normal((N_TRIALS, DIMS))
    mixing = rng.standard_normal((DIMS, VALUES))
    responses = embeddings @ mixing + 12.0 * rng.standard_normal((N_TRIALS, VALUES))
    return responses.astype(np.float32), embeddings


def sklearn_reference(x_train, y_train, x_test, cfg):
    """StandardScaler → PCA (full SVD) → per dimension the alpha with the lowest mean
    validation MSE over contiguous 5-fold CV, refitted with scikit-learn Ridge."""
    scaler = StandardScaler().fit(x_train)
    pca = PCA(cfg["n_components"], svd_solver="full").fit(scaler.transform(x_train))
    z_train = pca.transform(scaler.transform(x_train))
    z_test = pca.transform(scaler.transform(x_test))
    out = np.empty((len(x_test), y_train.shape[1]))
    for d in range(y_train.shape[1]):
        mse = []
        for alpha in cfg["alphas"]:
            errors = []
            for fit, val in KFold(cfg["folds"]).split(z_train):
                model = Ridge(alpha=alpha).fit(z_train[fit], y_train[fit, d])
                errors.append(np.mean((model.predict(z_train[val]) - y_train[val, d]) ** 2))
            mse.append(np.mean(errors))
        best = cfg["alphas"][int(np.argmin(mse))]
        out[:, d] = Ridge(alpha=best).fit(z_train, y_train[:, d]).predict(z_test)
    return out


def zero_based_ranks(predictions, candidates):
    """Rank of each query's own candidate (row i ↔ candidate i), candidates L2-normalised,
    ties averaged, by a direct count per query."""
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    ranks = []
    for i, p in enumerate(predictions):
        s = unit @ p
        ranks.append(((s > s[i]).sum() + (s >= s[i]).sum() - 1) / 2)
    return np.array(ranks)


def test_decoded_embeddings_equal_the_sklearn_pipeline(problem):
    responses, embeddings = problem
    train, test = np.arange(N_TRIALS - N_TEST), np.arange(N_TRIALS - N_TEST, N_TRIALS)
    cfg = RidgeDecoderConfig.from_settings({**CFG, "pca": {"solver": "exact"}})
    decoder = fit_ridge_decoder(ArrayFeatures(responses), embeddings, train, cfg)
    ours = decoder.predict(ArrayFeatures(responses), test)
    reference = sklearn_reference(responses[train], embeddings[train], responses[test], CFG)
    assert ours.shape == (N_TEST, DIMS) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())
    ranks = zero_based_ranks(ours, embeddings[test])
    assert np.mean(ranks < 5) >= 5 * 5 / N_TEST  # top-5 at least five times chance
    assert set(np.unique(decoder.alpha)) <= set(CFG["alphas"])


def test_a_saved_decoder_loads_to_the_same_predictions(problem, tmp_path):
    responses, embeddings = problem
    cfg = RidgeDecoderConfig.from_settings(CFG)
    decoder = fit_ridge_decoder(ArrayFeatures(responses), embeddings, np.arange(200), cfg)
    decoder.save(tmp_path / "model")
    loaded = RidgeDecoder.load(tmp_path / "model")
    rows = np.arange(200, N_TRIALS)
    np.testing.assert_array_equal(
        loaded.predict(ArrayFeatures(responses), rows),
        decoder.predict(ArrayFeatures(responses), rows),
    )
    (tmp_path / "model" / READOUT).write_bytes(b"not an npz file")
    with pytest.raises(DataError):
        RidgeDecoder.load(tmp_path / "model")


def test_bad_input_is_one_clear_error(problem):
    responses, embeddings = problem
    cfg = RidgeDecoderConfig.from_settings(CFG)
    with pytest.raises(DataError, match=r"embeddings of shape \(10, 8\); expected \[trial, dims\]"):
        fit_ridge_decoder(ArrayFeatures(responses), embeddings[:10], np.arange(5), cfg)
    bad = embeddings.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="target embeddings are not all finite"):
        fit_ridge_decoder(ArrayFeatures(responses), bad, np.arange(200), cfg)
    decoder = fit_ridge_decoder(ArrayFeatures(responses), embeddings, np.arange(200), cfg)
    with pytest.raises(DataError, match="responses have 119 values per trial; the decoder was"):
        decoder.predict(ArrayFeatures(responses[:, :119]), np.arange(3))
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['lr'\]"):
        RidgeDecoderConfig.from_settings({"lr": 1e-3})
    with pytest.raises(ConfigError, match="folds = 1; expected at least 2"):
        RidgeDecoderConfig.from_settings({"folds": 1})
