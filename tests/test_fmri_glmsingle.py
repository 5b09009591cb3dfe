"""GLMsingle types A–D on simulated BOLD with known betas and HRFs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.linalg import block_diag
from sklearn.linear_model import LinearRegression
from sklearn.mixture import GaussianMixture

from bergforge.errors import DataError
from bergforge.preprocess import glm_design as dz
from bergforge.preprocess import hrf_library as hl
from bergforge.preprocess.glmsingle import (
    OUTPUT_TYPES,
    GLMSingleParams,
    fit_glmsingle,
    save_glmsingle_outputs,
    zscore_betas_per_session,
)
from bergforge.preprocess.noise_regressors import (
    find_tail_threshold,
    robust_range,
    select_noise_regressors,
)
from bergforge.simulate.nsd import BoldSimulation, simulate_bold_session

SIM = BoldSimulation(n_vertices=160, n_conditions=30, n_runs=6)


def _rowwise_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def _repeat_reliability(betas: np.ndarray, condition: np.ndarray) -> np.ndarray:
    """Mean correlation across conditions between pairs of repetitions, per vertex."""
    reps = np.stack([betas[:, condition == c] for c in range(SIM.n_conditions)], axis=1)
    pairs = [(i, k) for i in range(SIM.n_repetitions) for k in range(i + 1, SIM.n_repetitions)]
    return np.mean([_rowwise_r(reps[:, :, i], reps[:, :, k]) for i, k in pairs], axis=0)


@pytest.fixture(scope="module")
def session():
    return simulate_bold_session(SIM, seed=3)


@pytest.fixture(scope="module")
def results(session):
    return fit_glmsingle(session.data, session.design, SIM.stimdur, SIM.tr)


def test_outputs_are_named_as_glmsingle(results, session):
    n_trials = session.trial_betas.shape[1]
    for name in OUTPUT_TYPES:
        assert results[name]["betasmd"].shape[0] == SIM.n_vertices
    for name in OUTPUT_TYPES[1:]:
        assert results[name]["betasmd"].shape == (SIM.n_vertices, n_trials)
    d = results["TYPED_FITHRF_GLMDENOISE_RR"]
    assert {"HRFindex", "FRACvalue", "pcnum", "scaleoffset", "rrbadness", "glmbadness"} <= set(d)
    assert 0 <= int(d["pcnum"]) <= 10
    assert np.all((d["FRACvalue"] >= 0.05) & (d["FRACvalue"] <= 1))
    assert results["TYPEA_ONOFF"]["onoffR2"][session.signal].mean() > (
        results["TYPEA_ONOFF"]["onoffR2"][~session.signal].mean() + 10
    )


def test_type_d_beats_type_a(results, session):
    sig = session.signal
    truth = session.trial_betas[sig]
    beta_a = results["TYPEA_ONOFF"]["betasmd_assumehrf"][sig]
    beta_d = results["TYPED_FITHRF_GLMDENOISE_RR"]["betasmd"][sig]
    r_a, r_d = _rowwise_r(beta_a, truth), _rowwise_r(beta_d, truth)
    assert np.median(r_d) > np.median(r_a) + 0.1
    rel_a = _repeat_reliability(beta_a, session.trial_condition)
    rel_d = _repeat_reliability(beta_d, session.trial_condition)
    assert np.median(rel_d) > np.median(rel_a) + 0.1
    # GLMdenoise found and used noise regressors on this structured-noise data
    assert int(results["TYPED_FITHRF_GLMDENOISE_RR"]["pcnum"]) >= 1


def test_chosen_hrf_matches_simulated(results, session):
    sig = session.signal
    chosen = results["TYPEB_FITHRF"]["HRFindex"][sig]
    true = session.hrf_index[sig]
    assert np.mean(np.abs(chosen - true) <= 1) > 0.75  # chance ≈ 0.14
    assert np.mean(chosen == true) > 0.5  # most signal vertices; chance = 0.05


def test_unit_fraction_is_ols_and_type_c(session):
    params = GLMSingleParams(fracs=(1.0,), wantautoscale=False, n_pcs=2)
    res = fit_glmsingle(session.data[:3], session.design[:3], SIM.stimdur, SIM.tr, params)
    np.testing.assert_allclose(
        res["TYPED_FITHRF_GLMDENOISE_RR"]["betasmd"],
        res["TYPEC_FITHRF_GLMDENOISE"]["betasmd"],
        rtol=1e-6,
        atol=1e-8,
    )


def test_type_b_betas_equal_sklearn_ols(session):
    """Single-trial OLS after projecting out polynomials matches scikit-learn on the full design."""
    params = GLMSingleParams(wantglmdenoise=False, wantfracridge=False)
    data, design = session.data[:2], session.design[:2]
    res = fit_glmsingle(data, design, SIM.stimdur, SIM.tr, params)
    b = res["TYPEB_FITHRF"]
    v = 0
    hrf = hl.hrf_at_tr(hl.hrf_library()[:, b["HRFindex"][v]], SIM.stimdur, SIM.tr)
    blocks = []
    for x in design:
        degree = dz.default_max_poly_degree(x.shape[0], SIM.tr)
        blocks.append((dz.single_trial_design(x, hrf), dz.polynomial_basis(x.shape[0], degree)))
    n_t = sum(x.shape[0] for x, _ in blocks)
    trials = np.zeros((n_t, sum(x.shape[1] for x, _ in blocks)))
    polys = np.zeros((n_t, sum(p.shape[1] for _, p in blocks)))
    t0 = c0 = p0 = 0
    for x, p in blocks:
        trials[t0 : t0 + x.shape[0], c0 : c0 + x.shape[1]] = x
        polys[t0 : t0 + x.shape[0], p0 : p0 + p.shape[1]] = p
        t0, c0, p0 = t0 + x.shape[0], c0 + x.shape[1], p0 + p.shape[1]
    y = np.concatenate([d[v] for d in data]).astype(float)
    ref = LinearRegression(fit_intercept=False).fit(np.hstack([trials, polys]), y)
    expected = ref.coef_[: trials.shape[1]] / abs(b["meanvol"][v]) * 100
    np.testing.assert_allclose(b["betasmd"][v], expected, rtol=1e-6, atol=1e-8)


def test_noise_regressor_selection_and_threshold():
    assert select_noise_regressors(np.array([0.0, 5, 9, 10, 10.2, 9])) == 3
    assert select_noise_regressors(np.array([0.0, -1, -2])) == 0
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(20, 2, 200)])
    assert 2 < find_tail_threshold(values) < 16


def _robustrange_reference(m: np.ndarray) -> tuple[float, float]:
    """GLMsingle's robustrange as the research note states it (recursive, both checks per pass)."""
    p01, p10, p50, p90, p999 = np.percentile(m, [0.1, 10, 50, 90, 99.9])
    pmn, pmx = p50 - 5 * (p50 - p10), p50 + 5 * (p90 - p50)
    rerun = False
    if p999 <= pmx:
        mx = m.max() if m.max() <= p50 + 1.1 * (p999 - p50) else p999
    else:
        rerun, m = True, m[m <= pmx]
    if p01 >= pmn:
        mn = m.min() if m.min() >= p50 - 1.1 * (p50 - p01) else p01
    else:
        rerun, m = True, m[m >= pmn]
    return _robustrange_reference(m) if rerun else (mn, mx)


def _tail_threshold_reference(values: np.ndarray, seed: int) -> float:
    """GLMsingle's findtailthreshold on all finite ``values``, the mixture seeded with ``seed``."""
    v = values[np.isfinite(values)].reshape(-1, 1)
    gmm = GaussianMixture(n_components=2, tol=1e-10, reg_covar=0, n_init=3, random_state=seed)
    gmm.fit(v)
    lo, hi = _robustrange_reference(v.ravel())
    grid = np.linspace(min(lo, gmm.means_.min()), max(hi, gmm.means_.max()), 500)
    posterior = gmm.predict_proba(grid.reshape(-1, 1))
    upper = 0 if posterior[-1, 0] > 0.5 else 1
    for i in range(grid.size - 1, -1, -1):
        if posterior[i, upper] <= 0.5:
            return grid[i]
    return grid[0]


def _onoff_reference(data: list[np.ndarray], design: list[np.ndarray]):
    """ON-OFF beta and R² (%) of ONE least-squares fit over all runs with per-run drift columns."""
    hrf = hl.hrf_at_tr(hl.canonical_hrf(), SIM.stimdur, SIM.tr)
    onoff, drift = [], []
    for x in design:
        n_t = x.shape[0]
        onoff.append(np.convolve(x.sum(axis=1), hrf)[:n_t])  # all trials, one regressor
        degree = int(round(n_t * SIM.tr / 60 / 2))
        drift.append(np.vander(np.linspace(-1, 1, n_t), degree + 1))
    drift_all = block_diag(*drift)
    full = np.column_stack([np.concatenate(onoff), drift_all])
    y = np.vstack([d.T for d in data]).astype(float)
    coef = np.linalg.lstsq(full, y, rcond=None)[0]
    sse = ((y - full @ coef) ** 2).sum(axis=0)
    detrended = y - drift_all @ np.linalg.lstsq(drift_all, y, rcond=None)[0]
    return coef[0], 100 * (1 - sse / (detrended**2).sum(axis=0)), y.mean(axis=0)


def test_onoff_is_one_fit_over_all_runs(results, session):
    beta, r2, meanvol = _onoff_reference(session.data, session.design)
    a = results["TYPEA_ONOFF"]
    np.testing.assert_allclose(a["onoffR2"], r2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a["betasmd"][:, 0], beta / np.abs(meanvol) * 100, rtol=1e-9)


def test_robust_range_by_hand():
    base = np.linspace(0, 10, 1001)  # p0.1 = 0.01, p10 = 1, p50 = 5, p90 = 9, p99.9 = 9.99
    assert robust_range(base) == pytest.approx((0.0, 10.0), abs=1e-12)
    # 5 values at ±1000 each (0.5 %) put p0.1 and p99.9 beyond p50 ∓ 5·4.04: both sides drop in
    # one pass, and the rerun on ``base`` gives (0, 10)
    outliers = np.concatenate([base, np.full(5, 1000.0), np.full(5, -1000.0)])
    assert robust_range(outliers) == pytest.approx((0.0, 10.0), abs=1e-12)
    # one value at 1000 (0.1 %): p99.9 = 9.99 + 0.999·0.01 ≤ pmx, so nothing drops, but 1000 is
    # beyond p50 + 1.1·(p99.9 − p50), so the max is p99.9 (and mirrored, the min)
    one = np.append(base, 1000.0)
    assert robust_range(one) == pytest.approx((0.0, 9.99 + 0.999 * 0.01), abs=1e-9)
    assert robust_range(-one) == pytest.approx((-(9.99 + 0.999 * 0.01), 0.0), abs=1e-9)


def test_tail_threshold_is_glmsingles(results):
    """brainR2 and pcR2cutoff = GLMsingle's findtailthreshold of onoffR2 (seed 0), noise pool."""
    onoff_r2 = results["TYPEA_ONOFF"]["onoffR2"]
    expected = _tail_threshold_reference(onoff_r2, seed=0)
    d = results["TYPED_FITHRF_GLMDENOISE_RR"]
    assert float(d["brainR2"]) == pytest.approx(expected, rel=1e-12)
    assert float(d["pcR2cutoff"]) == float(d["brainR2"])
    meanvol = results["TYPEA_ONOFF"]["meanvol"]
    bright = meanvol > np.percentile(meanvol, 99) * 0.1
    np.testing.assert_array_equal(d["noisepool"], bright & (onoff_r2 < expected))
    np.testing.assert_array_equal(d["pcvoxels"], onoff_r2 > expected)


def test_mixture_seed_is_honoured_and_recorded(session, tmp_path):
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(20, 2, 200), [np.nan]])
    # more values than max_values: the seed also draws the subset fitted
    first = find_tail_threshold(values, seed=11, max_values=400)
    assert find_tail_threshold(values, seed=11, max_values=400) == first
    subset = np.random.default_rng(11).choice(values[np.isfinite(values)], 400, replace=False)
    assert first == pytest.approx(_tail_threshold_reference(subset, seed=11), rel=1e-12)
    assert find_tail_threshold(values, seed=12, max_values=400) != first
    params = GLMSingleParams(seed=11, wantfracridge=False, n_pcs=2)
    res = fit_glmsingle(session.data[:3], session.design[:3], SIM.stimdur, SIM.tr, params)
    c = res["TYPEC_FITHRF_GLMDENOISE"]
    assert int(c["seed"]) == 11
    assert float(c["brainR2"]) == find_tail_threshold(res["TYPEA_ONOFF"]["onoffR2"], seed=11)
    save_glmsingle_outputs(res, tmp_path / "glm", params)
    assert json.loads((tmp_path / "glm" / "params.json").read_text())["seed"] == 11
    with np.load(tmp_path / "glm" / "TYPED_FITHRF_GLMDENOISE_RR.npz") as f:
        assert int(f["seed"]) == 11


def test_zscore_per_session():
    rng = np.random.default_rng(1)
    betas = rng.normal(5, 3, (4, 12))
    session = np.repeat([1, 2], 6)
    z = zscore_betas_per_session(betas, session)
    for s in (1, 2):
        np.testing.assert_allclose(z[:, session == s].mean(1), 0, atol=1e-12)
        np.testing.assert_allclose(z[:, session == s].std(1), 1)


def test_bad_inputs_get_clear_errors(session):
    bad = [d.copy() for d in session.data[:2]]
    bad[1][0, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fit_glmsingle(bad, session.design[:2], SIM.stimdur, SIM.tr)
    with pytest.raises(DataError, match="expected design"):
        fit_glmsingle(session.data[:2], [session.design[0], session.design[0][:-1]], 3.0, 1.0)
    with pytest.raises(DataError, match="equal, non-zero"):
        fit_glmsingle(session.data[:2], session.design[:1], 3.0, 1.0)


def test_saved_outputs_round_trip(tmp_path, results):
    out = tmp_path / "glmsingle"
    save_glmsingle_outputs(results, out, GLMSingleParams())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.npz" for n in results] + ["params.json"]
    )
    with np.load(out / "TYPED_FITHRF_GLMDENOISE_RR.npz") as f:
        np.testing.assert_array_equal(
            f["betasmd"], results["TYPED_FITHRF_GLMDENOISE_RR"]["betasmd"]
        )
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
