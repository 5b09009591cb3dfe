"""Noise ceilings against an analytic truth, and the MOSAIC metadata dict."""

from __future__ import annotations

import numpy as np
import pytest

from bergforge.datasets.grayordinates import N_GRAYORDINATES, grayordinate_space
from bergforge.errors import DataError
from bergforge.evaluation.fmri_metadata import (
    NOISE_CEILING_KEYS,
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
