"""Out-of-core StandardScaler → PCA against scikit-learn, and the out-of-core path against memory."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from bergforge.errors import DataError
from bergforge.models.linear.matrix import ArrayFeatures
from bergforge.models.linear.pca import PCAModel, PCAOptions, fit_scaler_pca, transform
from bergforge.models.linear.scaler import Scaler


@pytest.fixture(scope="module")
def wide():
    """150 + 30 images × 900 features with a decaying spectrum, offsets, scales, a constant column."""
    rng = np.random.default_rng(3)
    n, p = 180, 900
    latents = rng.standard_normal((n, 30)) * np.geomspace(8, 0.3, 30)
    x = latents @ rng.standard_normal((30, p)) + 0.2 * rng.standard_normal((n, p))
    x = x * rng.uniform(0.2, 5, p) + rng.uniform(-3, 3, p)
    x[:, 17] = 4.0
    return x.astype(np.float32), np.arange(150), np.arange(150, 180)


def subspace_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Largest sine of the principal angles between the row spaces of ``a`` and ``b``."""
    qa, _ = np.linalg.qr(a.T.astype(np.float64))
    qb, _ = np.linalg.qr(b.T.astype(np.float64))
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.sqrt(max(0.0, 1 - cos.min() ** 2)))


@pytest.mark.parametrize("solver", ["exact", "randomized"])
def test_matches_sklearn_exact_pca(wide, solver):
    x, train, test = wide
    k = 12
    scaler = StandardScaler().fit(x[train])
    ref = PCA(k, svd_solver="full").fit(scaler.transform(x[train]))
    opts = PCAOptions(n_components=k, solver=solver, block_size=128, power_iterations=3)
    fit = fit_scaler_pca(ArrayFeatures(x), train, test, opts, seed=5)

    np.testing.assert_allclose(fit.scaler.mean_, scaler.mean_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fit.scaler.scale_, scaler.scale_, rtol=1e-6)
    ev = fit.pca.explained_variance_
    np.testing.assert_allclose(ev, ref.explained_variance_, rtol=1e-3)
    np.testing.assert_allclose(
        fit.pca.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-3
    )
    np.testing.assert_allclose(fit.pca.noise_variance_, ref.noise_variance_, rtol=1e-3)
    assert subspace_gap(fit.pca.components_, ref.components_) < 1e-3
    # same sign convention, so components and scores agree one by one
    np.testing.assert_allclose(fit.pca.components_, ref.components_, atol=1e-3)
    scale = ref.singular_values_[0]
    np.testing.assert_allclose(
        fit.train_scores / scale, ref.transform(scaler.transform(x[train])) / scale, atol=1e-4
    )
    np.testing.assert_allclose(
        fit.extra_scores / scale, ref.transform(scaler.transform(x[test])) / scale, atol=1e-4
    )
    assert fit.passes == (2 if solver == "exact" else 3 + 2)


def test_out_of_core_equals_in_memory(wide, tmp_path):
    """Float16 Zarr on disk in narrow column blocks == the whole float16 matrix as one block."""
    x, train, test = wide
    x16 = x.astype(np.float16)
    store = zarr.create_array(
        str(tmp_path / "f.zarr"), shape=x16.shape, chunks=(64, 100), dtype="float16"
    )
    store[:] = x16
    opts_disk = PCAOptions(n_components=10, solver="randomized", block_size=100)
    opts_mem = PCAOptions(n_components=10, solver="randomized", block_size=x.shape[1])
    # shuffled training rows: scores come back in the caller's order
    rows = np.random.default_rng(0).permutation(train)
    disk = fit_scaler_pca(ArrayFeatures(store), rows, test, opts_disk, seed=9)
    mem = fit_scaler_pca(ArrayFeatures(x16.astype(np.float32)), rows, test, opts_mem, seed=9)
    assert subspace_gap(disk.pca.components_, mem.pca.components_) < 1e-4
    np.testing.assert_allclose(disk.pca.explained_variance_, mem.pca.explained_variance_, rtol=1e-5)
    np.testing.assert_allclose(disk.train_scores, mem.train_scores, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(disk.scaler.var_, mem.scaler.var_, rtol=1e-6)


def test_saved_models_round_trip_and_transform(wide, tmp_path):
    x, train, test = wide
    fit = fit_scaler_pca(ArrayFeatures(x), train, test, PCAOptions(n_components=6), seed=1)
    fit.scaler.save(tmp_path / "scaler.npz")
    fit.pca.save(tmp_path / "pca.npz")
    scaler, pca = Scaler.load(tmp_path / "scaler.npz"), PCAModel.load(tmp_path / "pca.npz")
    with np.load(tmp_path / "pca.npz") as d:
        assert int(d["n_components_"]) == 6 and int(d["n_features_in_"]) == x.shape[1]
    scores = transform(ArrayFeatures(x), test, scaler, pca, block_size=200)
    np.testing.assert_allclose(scores, fit.extra_scores, rtol=1e-4, atol=1e-3)


def test_randomized_pca_is_deterministic(wide):
    x, train, test = wide
    opts = PCAOptions(n_components=8, solver="randomized", block_size=300)
    a = fit_scaler_pca(ArrayFeatures(x), train, test, opts, seed=4)
    b = fit_scaler_pca(ArrayFeatures(x), train, test, opts, seed=4)
    assert np.array_equal(a.pca.components_, b.pca.components_)


def test_bad_inputs_stop_with_one_clear_error(wide):
    x, train, test = wide
    with pytest.raises(DataError, match="more training images than components"):
        fit_scaler_pca(ArrayFeatures(x), train[:10], test, PCAOptions(n_components=10))
    bad = x.copy()
    bad[3, 250] = np.inf
    with pytest.raises(DataError, match=r"NaN or infinite .*column 250"):
        fit_scaler_pca(ArrayFeatures(bad), train, test, PCAOptions(n_components=5))
    bad[3, 250] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        fit_scaler_pca(ArrayFeatures(bad), train, test, PCAOptions(n_components=5))


@pytest.mark.parametrize("solver", ["exact", "randomized"])
def test_the_callers_array_is_never_scaled_in_place(wide, solver):
    """Blocks read from a NumPy array are views of it: scaling them in place would change the
    caller's features (blocks a store reads are fresh and are scaled in place)."""
    x, train, test = wide
    before = x.copy()
    opts = PCAOptions(n_components=5, solver=solver, block_size=128)
    for rows in ((train, test), (np.arange(len(x)), None)):  # with test rows, and without
        fit_scaler_pca(ArrayFeatures(x), rows[0], rows[1], opts, seed=1)
        np.testing.assert_array_equal(x, before)
