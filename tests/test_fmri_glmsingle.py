"""GLMsingle types A–D on simulated BOLD with known betas and HRFs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

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
from bergforge.preprocess.noise_regressors import find_tail_threshold, select_noise_regressors
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
