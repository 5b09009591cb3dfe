"""The NSD noise ceiling and the accuracy metrics, against direct formulas and the simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest

from bergforge.datasets.sensors import meg_sensor_names, meg_sensor_positions
from bergforge.errors import DataError
from bergforge.evaluation.metrics import pearson_columns, percent_noise_ceiling
from bergforge.evaluation.noise_ceiling import noise_ceiling, summarize_test
from bergforge.simulate.truth import SubjectTruth


def berg_noise_ceiling(trials: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """BERG's MEG formula written directly on complete trials [image, rep, T]."""
    noise_var = trials.var(axis=1, ddof=1).mean(axis=0)
    total_var = trials.reshape(-1, trials.shape[2]).var(axis=0, ddof=1)
    ncsnr = np.sqrt(np.maximum(total_var - noise_var, 0)) / np.sqrt(noise_var)
    return ncsnr, 100 * ncsnr**2 / (ncsnr**2 + 1 / n)


def test_equals_the_direct_formula_and_batches_do_not_matter():
    rng = np.random.default_rng(1)
    trials = rng.standard_normal((30, 6, 50)) + 2 * rng.standard_normal((30, 1, 50)) + 5
    ncsnr, nc, n = noise_ceiling(summarize_test(trials))
    ref_snr, ref_nc = berg_noise_ceiling(trials, 6)
    np.testing.assert_allclose(ncsnr, ref_snr, rtol=1e-10)
    np.testing.assert_allclose(nc, ref_nc, rtol=1e-10)
    assert n == pytest.approx(6)
    from bergforge.evaluation.noise_ceiling import concatenate_summaries

    parts = concatenate_summaries([summarize_test(trials[:7]), summarize_test(trials[7:])])
    np.testing.assert_allclose(noise_ceiling(parts)[1], nc, rtol=1e-12)


def test_missing_repetitions_use_the_effective_count():
    rng = np.random.default_rng(2)
    trials = rng.standard_normal((20, 4, 3))
    trials[:10, 3] = np.nan  # half the images lack one repetition
    _, _, n = noise_ceiling(summarize_test(trials))
    assert n == pytest.approx(1 / np.mean([1 / 3] * 10 + [1 / 4] * 10))


def test_matches_the_simulators_analytic_ceiling():
    """Trials drawn from a simulator truth: the estimate is within sampling error of the truth."""
    rng = np.random.default_rng(20200220)
    names = meg_sensor_names()[:40]
    truth = SubjectTruth.draw(rng, names, meg_sensor_positions(names), 4, 1.0, 1.0, (0.08, 0.3))
    times = np.arange(-0.1, 0.6, 0.01)
    latents = rng.standard_normal((200, 4))
    true = truth.responses(latents, times).reshape(200, -1)
    n_reps = 8
    noise = rng.standard_normal((200, n_reps, true.shape[1])) * np.repeat(
        truth.noise_sd, len(times)
    )
    _, nc_true = truth.analytic_noise_ceiling(true.reshape(200, len(names), -1), n_reps)
    ncsnr, nc, _ = noise_ceiling(summarize_test(true[:, None] + noise))
    nc_true = nc_true.ravel()
    strong = nc_true > 20
    assert strong.sum() > 100
    # NC estimated from 200 images × 8 reps: a few percent sampling error where signal is strong
    assert np.median(np.abs(nc[strong] - nc_true[strong])) < 3
    assert abs(np.mean(nc[strong] - nc_true[strong])) < 1.5, "no bias"
    assert np.percentile(np.abs(nc[strong] - nc_true[strong]), 99) < 25
    before_onset = np.tile(times < 0, len(names))
    assert np.median(nc[before_onset]) < 5


def test_no_test_repetitions_is_an_error():
    with pytest.raises(DataError, match="no test repetitions"):
        noise_ceiling(summarize_test(np.full((5, 3, 4), np.nan)))
    with pytest.raises(DataError, match="at least 2 test repetitions"):
        noise_ceiling(summarize_test(np.ones((5, 1, 4))))


def test_pearson_and_percent_of_ceiling():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((50, 6)), rng.standard_normal((50, 6))
    b[:, 0] = a[:, 0] * 2 + 1
    b[:, 5] = 1.0  # constant → NaN
    r = pearson_columns(a, b)
    for j in range(5):
        assert r[j] == pytest.approx(np.corrcoef(a[:, j], b[:, j])[0, 1], rel=1e-12)
    assert r[0] == pytest.approx(1.0) and np.isnan(r[5])
    pnc = percent_noise_ceiling(np.array([0.5, -0.3, 0.5, np.nan]), np.array([50.0, 50.0, 0.0, 9]))
    assert pnc[0] == pytest.approx(50.0)  # 100 · 0.25 / 0.5
    assert pnc[1] == 0.0
    assert np.isnan(pnc[2]) and np.isnan(pnc[3])


def test_pearson_in_column_blocks_equals_all_columns_at_once(monkeypatch):
    from bergforge.evaluation import metrics

    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((40, 11)), rng.standard_normal((40, 11))
    b[:, 7] = 2.0  # constant → NaN, in the last block
    whole = metrics.pearson_columns(a, b)  # one block
    monkeypatch.setattr(metrics, "PEARSON_BLOCK", 3)
    np.testing.assert_array_equal(metrics.pearson_columns(a, b), whole)
    assert metrics.pearson_columns(a[:, 0], b[:, 0]) == whole[0]
