"""The pseudo-studies of the prepared truth and its simulated recordings, against direct
computations written here: each draw's estimate from its drawn trials, its truth from the other
trials (variances computed directly, not from sums), the per-draw signal targets; SOA jitter
drawn as the study draws it."""

from __future__ import annotations

import numpy as np
import pytest

from bergforge.errors import DataError
from bergforge.simulate.accuracy import chance_medians
from bergforge.simulate.prepared_truth import Recording, recording, resampled_differences
from bergforge.simulate.truth import SubjectTruth


def _nc(signal: np.ndarray, noise: np.ndarray, n: int) -> np.ndarray:
    snr2 = signal / noise
    return 100 * snr2 / (snr2 + 1 / n)


def test_each_draw_is_an_estimate_from_its_trials_against_the_truth_of_the_others():
    rng = np.random.default_rng(0)
    n_images, n_trials, n_reps = 12, 16, 4
    signal = rng.normal(size=(n_images, 1, 3, 5))
    trials = (signal + rng.normal(scale=1.5, size=(n_images, n_trials, 3, 5))).astype(np.float32)
    diff, true = resampled_differences(trials, n_reps, np.random.default_rng(7), n_draws=3)
    assert diff.shape == true.shape == (3, 3, 5)

    replay = np.random.default_rng(7)  # the same draws: n_reps trials per image
    for k in range(3):
        drawn = np.argsort(replay.random((n_images, n_trials)), axis=1)[:, :n_reps]
        x = trials.astype(np.float64).reshape(n_images, n_trials, -1)
        mask = np.zeros((n_images, n_trials), dtype=bool)
        mask[np.arange(n_images)[:, None], drawn] = True
        sample = x[mask].reshape(n_images, n_reps, -1)
        rest = x[~mask].reshape(n_images, n_trials - n_reps, -1)
        # the study's estimate (NSD): noise = mean within-image variance, signal = total − noise
        noise = sample.var(axis=1, ddof=1).mean(axis=0)
        total = sample.reshape(-1, sample.shape[2]).var(axis=0, ddof=1)
        estimated = _nc(np.maximum(total - noise, 0), noise, n_reps)
        # the truth of the other trials
        rest_noise = rest.var(axis=1, ddof=1).mean(axis=0)
        rest_signal = rest.mean(axis=1).var(axis=0, ddof=1) - rest_noise / rest.shape[1]
        expected_true = _nc(np.clip(rest_signal, 0, None), rest_noise, n_reps)
        np.testing.assert_allclose(true[k].ravel(), expected_true, atol=0.05)  # float16
        np.testing.assert_allclose(diff[k].ravel(), estimated - expected_true, atol=0.05)


def test_chance_medians_take_each_draws_own_signal_targets():
    diff = np.array([[1.0, 2.0, 3.0, 10.0], [5.0, 6.0, 7.0, 8.0]])
    true = np.array([[30.0, 30.0, 5.0, 30.0], [10.0, 25.0, 25.0, 10.0]])
    got = chance_medians(diff, true, 20.0)
    np.testing.assert_array_equal(got, [2.0, 6.5])  # median of (1, 2, 10) and of (6, 7)
    assert np.isnan(chance_medians(diff, true, 50.0)).all()


def test_recordings_jitter_the_soa_as_the_study_does():
    positions = np.array([[0.0, 0.0, 0.1], [0.05, 0.0, 0.1]])
    truth = SubjectTruth.draw(
        np.random.default_rng(1), ["A", "B"], positions, 2, 1.0, 1.0, (0.1, 0.2)
    )
    design = Recording("meg", truth, np.zeros(2), 100.0, 1.5, 20, 50, soa_jitter=0.2)
    _, onsets = recording(design, np.random.default_rng(3), np.zeros((50, 2)))
    gaps = np.diff(onsets) / 100.0
    assert onsets[0] == 100  # 1 s of lead-in
    assert gaps.min() >= 1.3 - 0.01 and gaps.max() <= 1.7 + 0.01
    assert gaps.std() > 0.05  # uniform ± 0.2 s: sd 0.115
    fixed = Recording("eeg", truth, np.zeros(2), 100.0, 0.75, 20, 50)
    _, onsets = recording(fixed, np.random.default_rng(3), np.zeros((50, 2)))
    np.testing.assert_array_equal(np.diff(onsets), 75)


def test_a_single_repetition_study_is_refused_by_the_estimate():
    trials = np.random.default_rng(0).normal(size=(4, 6, 2, 2)).astype(np.float32)
    with pytest.raises(DataError, match="at least 2 test repetitions"):
        resampled_differences(trials, 1, np.random.default_rng(0), n_draws=1)
