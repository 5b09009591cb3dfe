"""Regression from sufficient statistics against scikit-learn, and target blocks as Dask tasks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold

from bergforge.errors import ConfigError, DataError
from bergforge.models.linear.blocks import map_blocks, target_blocks
from bergforge.models.linear.ridge import (
    FoldStatistics,
    check_alphas,
    concatenate,
    fit_regression,
    kfold_bounds,
    solve,
)

ALPHAS = np.logspace(-2, 4, 10)


@pytest.fixture(scope="module")
def problem():
    """103 rows × 8 PCs (decaying variance) → 40 targets with very different noise levels."""
    rng = np.random.default_rng(0)
    n, k, t = 103, 8, 40
    x = rng.standard_normal((n, k)) * np.linspace(3, 0.1, k)
    w = rng.standard_normal((k, t)) * rng.uniform(0, 1, t)
    y = x @ w + rng.standard_normal((n, t)) * rng.uniform(0.1, 5, t) + 3
    return x, y.astype(np.float32)


def test_kfold_bounds_equal_sklearn():
    for n, k in [(103, 5), (10, 3), (12, 4)]:
        ours = [np.arange(a, b) for a, b in kfold_bounds(n, k)]
        ref = [test for _, test in KFold(k).split(np.zeros(n))]
        assert all(np.array_equal(a, b) for a, b in zip(ours, ref, strict=True))


def test_ols_equals_linear_regression(problem):
    x, y = problem
    ours = fit_regression(x, y, "ols")
    ref = LinearRegression().fit(x, y.astype(np.float64))
    np.testing.assert_allclose(ours.coef, ref.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.intercept, ref.intercept_, rtol=1e-7, atol=1e-9)
    assert np.all(ours.alpha == 0)


def test_ols_rank_deficient_is_minimum_norm(problem):
    x, y = problem
    x2 = np.hstack([x, x[:, :1]])  # a duplicated column
    ours = fit_regression(x2, y, "ols")
    ref = LinearRegression().fit(x2, y.astype(np.float64))
    np.testing.assert_allclose(ours.coef, ref.coef_, atol=1e-7)


def test_ridge_cv_equals_direct_kfold_search(problem):
    x, y = problem
    ours = fit_regression(x, y, "ridge_cv", ALPHAS, n_folds=5)
    y64 = y.astype(np.float64)
    # direct search: scikit-learn Ridge per fold and alpha (all targets at once, each independent)
    mse = np.zeros((len(ALPHAS), y.shape[1]))
    for i, a in enumerate(ALPHAS):
        for tr, te in KFold(5).split(x):
            pred = Ridge(a).fit(x[tr], y64[tr]).predict(x[te])
            mse[i] += ((pred - y64[te]) ** 2).mean(axis=0) / 5
    best = ALPHAS[np.argmin(mse, axis=0)]
    np.testing.assert_array_equal(ours.alpha, best)
    np.testing.assert_allclose(ours.cv_mse, mse.min(axis=0), rtol=1e-9)
    for t in range(y.shape[1]):
        ref = Ridge(best[t]).fit(x, y64[:, t])
        np.testing.assert_allclose(ours.coef[t], ref.coef_, rtol=1e-5, atol=1e-8)
        assert ours.intercept[t] == pytest.approx(ref.intercept_, rel=1e-5, abs=1e-8)
    assert len(np.unique(ours.alpha)) >= 3, "the problem should need different alphas"


def test_streamed_batches_and_target_blocks_give_the_same_answer(problem):
    x, y = problem
    whole = fit_regression(x, y, "ridge_cv", ALPHAS, n_folds=5)
    stats = FoldStatistics(len(x), x.shape[1], y.shape[1], n_folds=5)
    for start in range(0, len(x), 17):  # batches that straddle fold boundaries
        stats.add(x[start : start + 17], y[start : start + 17])
    blocks = target_blocks(y.shape[1], 7)
    assert len(blocks) == 6
    parts = map_blocks(solve, [(stats.subset(b), "ridge_cv", ALPHAS) for b in blocks], threads=2)
    joined = concatenate(parts)
    np.testing.assert_array_equal(joined.alpha, whole.alpha)
    np.testing.assert_allclose(joined.coef, whole.coef, rtol=1e-9, atol=1e-12)


def test_blocks_run_on_a_distributed_scheduler(problem):
    from distributed import LocalCluster

    x, y = problem
    stats = FoldStatistics(len(x), x.shape[1], y.shape[1], n_folds=1)
    stats.add(x, y)
    blocks = target_blocks(y.shape[1], 16)
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as c:
        parts = map_blocks(
            solve, [(stats.subset(b), "ols", None) for b in blocks], scheduler=c.scheduler_address
        )
    ref = LinearRegression().fit(x, y.astype(np.float64))
    np.testing.assert_allclose(concatenate(parts).coef, ref.coef_, rtol=1e-7, atol=1e-9)


def test_bad_inputs(problem):
    x, y = problem
    with pytest.raises(ConfigError, match="alphas"):
        check_alphas([1.0, -1.0])
    with pytest.raises(ConfigError, match="expected one of"):
        fit_regression(x, y, "lasso")
    y_bad = y.copy()
    y_bad[4, 2] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        fit_regression(x, y_bad, "ols")
    with pytest.raises(ConfigError, match="folds"):
        kfold_bounds(3, 5)


def test_partial_fraction_quadratic_terms_equal_the_direct_products(monkeypatch):
    """The one-GEMM form of uᵀMu and its fallback for near-equal eigenvalues agree."""
    from bergforge.models.linear import ridge

    rng = np.random.default_rng(4)
    a = rng.standard_normal((30, 12))
    m = a.T @ a
    evals = np.sort(rng.uniform(1, 100, 12))
    z = rng.standard_normal((12, 50))
    inv = 1.0 / (evals[None, :] + ALPHAS[:, None])
    direct = np.stack([np.einsum("kt,kt->t", z * d[:, None], m @ (z * d[:, None])) for d in inv])
    np.testing.assert_allclose(ridge._quadratic_terms(m, evals, z, inv), direct, rtol=1e-9)
    monkeypatch.setattr(ridge, "GAP_TOLERANCE", np.inf)  # force the fallback
    np.testing.assert_allclose(ridge._quadratic_terms(m, evals, z, inv), direct, rtol=1e-12)
