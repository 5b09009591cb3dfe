"""Noise ceilings against an analytic truth, and the MOSAIC metadata dict."""

from __future__ import annotations

import numpy as np
import pytest

from bergforge.datasets.grayordinates import N_GRAYORDINATES, grayordinate_space
from bergforge.errors import DataError
from bergforge.evaluation.fmri_metadata import (
    NOISE_CEILING_KEYS,
    NoiseMoments,
    ncsnr,
    noise_ceiling,
    noise_ceilings_91k,
    subject_metadata,
)


def test_ncsnr_recovers_simulated_snr():
    rng = np.random.default_rng(0)
    true_snr = np.array([0.0, 0.5, 1.0, 2.0])
    signal = rng.normal(size=(4000, 1, 4)) * true_snr
    values = signal + rng.normal(size=(4000, 3, 4))
    values[::7, 2] = np.nan  # some images with 2 repetitions
    est = ncsnr(values)
    np.testing.assert_allclose(est[1:], true_snr[1:], rtol=0.08)
    assert est[0] < 0.15
    assert noise_ceiling(np.array([1.0]), 1)[0] == pytest.approx(50.0)
    assert noise_ceiling(np.array([1.0]), 3)[0] == pytest.approx(75.0)


def test_noise_moments_of_blocks_equal_the_ncsnr_of_all_images():
    """Fed 64 images at a time (as the CNN8 evaluation reads a subject's own rows), the moments
    give the ncsnr of the whole array: missing repetitions, images seen once, a vertex that is
    never repeated and one with a large offset (where a one-pass variance would lose digits)."""
    rng = np.random.default_rng(2)
    values = rng.normal(size=(300, 1, 6)) * [0.0, 0.3, 1.0, 2.0, 1.0, 1.0]
    values = values + rng.normal(size=(300, 3, 6))
    values[:, :, 5] += 1e4
    values[::5, 2] = np.nan  # two repetitions
    values[1::7, 1:] = np.nan  # seen once
    values[:, 1:, 4] = np.nan  # vertex 4 never repeated: no noise estimate
    moments = NoiseMoments(6)
    for start in range(0, 300, 64):
        moments.add(values[start : start + 64].astype(np.float32))
    want = ncsnr(values)  # float64, all at once
    got = moments.ncsnr()
    np.testing.assert_allclose(got[:4], want[:4], rtol=1e-5)
    assert np.isnan(got[4]) and np.isnan(want[4])
    np.testing.assert_allclose(got[5], want[5], rtol=1e-3)
    np.testing.assert_array_equal(moments.repetitions(), (~np.isnan(values[:, :, 0])).sum(axis=1))
    nc = noise_ceilings_91k(moments, np.arange(6), "train")
    ref = noise_ceilings_91k(values, np.arange(6), "train")
    for key in ref:
        np.testing.assert_allclose(nc[key][:6], ref[key][:6], rtol=1e-4)


def test_noise_ceilings_and_metadata_in_91k_space():
    space = grayordinate_space()
    rng = np.random.default_rng(1)
    gray = space.vertex_mapping_all[:5]
    values = rng.normal(size=(50, 3, 1)) + rng.normal(size=(50, 3, 5))
    nc = noise_ceilings_91k(values, gray, "test")
    assert set(nc) == {"test_n-avg_noiseceiling", "test_n-1_noiseceiling"}
    full = nc["test_n-avg_noiseceiling"]
    assert full.shape == (N_GRAYORDINATES,) and np.isfinite(full[gray]).all()
    assert np.isnan(np.delete(full, gray)).all()
    assert np.all(full[gray] >= nc["test_n-1_noiseceiling"][gray])
    meta = subject_metadata(space, {"participant_id": "sub-01"}, {"train_idx": np.arange(3)}, nc)
    assert meta["vertex_mapping_all"].shape == (57_051,) and meta["glasser_group_id"].shape == (
        57_051,
    )
    assert len(meta["roi"]) == 360
    np.testing.assert_array_equal(meta["roi"]["L_V1"], space.roi_indices("L_V1"))
    assert set(meta) == {
        "vertex_mapping_all",
        "glasser_group_id",
        "roi",
        "subject_info",
        "stimuli",
        "noise_ceiling",
    }
    assert "train_n-1_noiseceiling" in NOISE_CEILING_KEYS
    with pytest.raises(DataError, match="unknown noise-ceiling key"):
        subject_metadata(space, {}, {}, {"nc": full})
    with pytest.raises(DataError, match="expected shape"):
        subject_metadata(space, {}, {}, {"test_n-1_noiseceiling": full[:10]})
