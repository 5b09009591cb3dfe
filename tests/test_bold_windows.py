"""BOLD windows for decoding: cleaning per run, neuralset's window rounding, cutting per trial.

References written here: scipy's ``signal.detrend`` plus a z-score by hand (and nilearn's
``signal.clean``, which neuralset calls); window indices worked out by hand from the rule in
research/decoding.md §1.3; windows cut by an explicit loop.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from bergforge.errors import DataError
from bergforge.preprocess.bold_windows import clean_run, cut_windows, window_indices


def bold_run(n_vertex: int = 30, n_time: int = 194, seed: int = 0) -> np.ndarray:
    """Noise on an offset and a linear drift per vertex, float32 as BOLD files are."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_time)
    drift = rng.uniform(-2, 2, (n_vertex, 1)) * t / n_time
    offset = rng.uniform(100, 1000, (n_vertex, 1))
    return (offset + drift + rng.standard_normal((n_vertex, n_time)) * 3).astype(np.float32)


def test_clean_run_matches_detrend_and_sample_zscore():
    bold = bold_run()
    detrended = signal.detrend(bold.astype(np.float64), axis=1, type="linear")
    reference = (detrended - detrended.mean(axis=1, keepdims=True)) / detrended.std(
        axis=1, ddof=1, keepdims=True
    )
    cleaned = clean_run(bold)
    np.testing.assert_allclose(cleaned, reference, rtol=0, atol=1e-9)
    assert cleaned.dtype == np.float64
    np.testing.assert_allclose(cleaned.std(axis=1, ddof=1), 1.0, atol=1e-12)


def test_clean_run_matches_nilearn():
    nilearn_signal = pytest.importorskip("nilearn.signal")
    bold = bold_run(seed=2)
    reference = nilearn_signal.clean(
        bold.T.astype(np.float64), detrend=True, standardize="zscore_sample", t_r=2.0
    ).T
    np.testing.assert_allclose(clean_run(bold), reference, rtol=0, atol=1e-9)


def test_flat_vertices_become_zero_not_nan():
    bold = bold_run(n_vertex=4).astype(np.float64)
    bold[1] = 0.0  # outside the brain
    bold[2] = 812.5  # constant
    bold[3] = 400.0 + 0.37 * np.arange(
        bold.shape[1]
    )  # exactly linear: nothing left after detrending
    cleaned = clean_run(bold)
    assert np.isfinite(cleaned).all()
    np.testing.assert_array_equal(cleaned[1:], 0.0)
    assert cleaned[0].std(ddof=1) == pytest.approx(1.0)
    assert np.array_equal(bold[2], np.full(bold.shape[1], 812.5))  # the input is left as it was


def test_non_finite_bold_is_an_error_unless_set_to_zero():
    bold = bold_run(n_vertex=5)
    bold[3, 17] = np.nan
    with pytest.raises(DataError, match="sub-1 run 2: 1 vertices have non-finite.*vertex 3"):
        clean_run(bold, label="sub-1 run 2")
    zeroed = bold.copy()
    zeroed[3, 17] = 0.0
    np.testing.assert_array_equal(clean_run(bold, ensure_finite=True), clean_run(zeroed))
    with pytest.raises(DataError, match="at least 3 TRs"):
        clean_run(bold[:, :2])


@pytest.mark.parametrize(
    ("onsets", "tr", "duration", "starts", "length"),
    [
        # BOLD5000 onsets at TR 2 s: round(8.0367 / 2) = 4, round(18.01 / 2) = 9; 7 s → round(3.5) = 4
        ([6.0367, 16.01, 366.0], 2.0, 7.0, [4, 9, 184], 4),
        # exact halves round to even: (3 + 2) / 2 = 2.5 → 2, (5 + 2) / 2 = 3.5 → 4
        ([3.0, 5.0], 2.0, 7.0, [2, 4], 4),
        # TR 1.5 s (THINGS-fMRI): 7 s → round(4.67) = 5 TRs; 5.7 s → round(3.8) = 4 TRs
        ([0.0, 10.0], 1.5, 7.0, [1, 8], 5),
        ([0.0, 10.0], 1.5, 5.7, [1, 8], 4),
        # NSD BIDS variant, TR 1.6 s: 7 × 0.625 = 4.375 → 4 TRs; (1 + 2) / 1.6 = 1.875 → 2
        ([1.0], 1.6, 7.0, [2], 4),
    ],
)
def test_window_indices_follow_neuralsets_rounding(onsets, tr, duration, starts, length):
    got_starts, got_length = window_indices(onsets, tr, start=2.0, duration=duration)
    np.testing.assert_array_equal(got_starts, starts)
    assert got_length == length


def test_cut_windows_are_the_trs_after_each_onset():
    cleaned = clean_run(bold_run(n_vertex=6, n_time=194))
    onsets = 6.04 + 10.0 * np.arange(37)  # BOLD5000: 37 trials, the last at ≈366 s
    got = cut_windows(cleaned, onsets, tr=2.0, expected_trs=4)
    assert got.shape == (37, 6, 4)
    for k, onset in enumerate(onsets):
        first = int(np.floor((onset + 2.0) / 2.0 + 0.5))  # no exact halves among these onsets
        np.testing.assert_array_equal(got[k], cleaned[:, first : first + 4])


def test_window_past_the_end_of_a_run_is_an_error():
    cleaned = clean_run(bold_run(n_vertex=3, n_time=100))  # 200 s
    with pytest.raises(
        DataError,
        match=r"sub-1 ses-2 run-3: trial 1 \(onset 193 s\) has its window at TRs 98…101, "
        r"outside the run of 100 TRs \(200 s\)",
    ):
        cut_windows(cleaned, [6.0, 193.0, 194.0], tr=2.0, label="sub-1 ses-2 run-3")
    with pytest.raises(DataError, match=r"trial 0 \(onset -5 s\)"):
        cut_windows(cleaned, [-5.0], tr=2.0)


def test_a_tr_giving_another_window_length_is_an_error():
    cleaned = clean_run(bold_run(n_vertex=3, n_time=300))
    with pytest.raises(DataError, match=r"round\(7.0 / 1.5\) = 5 TRs; the model expects 4"):
        cut_windows(cleaned, [10.0], tr=1.5, duration=7.0, expected_trs=4, label="run-1")
    assert cut_windows(cleaned, [10.0], tr=1.5, duration=5.7, expected_trs=4).shape == (1, 3, 4)
