"""Leave-one-subject-out encoding of fixation-locked MEG (bergforge.evaluation.fixation_loso) on a
small AVS-like simulated study: Pearson r against numpy's, and the held-out subject predicted from
its fixation table alone, above chance at the simulated latency and below the truth's ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bergforge.datasets.screen import ScreenGeometry
from bergforge.evaluation.fixation_loso import backbone_features, channel_correlations, loso
from bergforge.features.fixation_crops import CropSpec, fixation_crops
from bergforge.features.fixation_features import crop_features
from bergforge.features.image_paths import inference_batch
from bergforge.features.models import build_backbone
from bergforge.features.registry import get_spec
from bergforge.preprocess.fixation_epochs import FixationEpochParams
from bergforge.simulate.avs import AvsSimulation, write_study

SIM = AvsSimulation(seed=5, n_scenes=8, image_size=64)


def test_channel_correlations_equal_numpys():
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((50, 3, 4))
    pred = obs + rng.standard_normal((50, 3, 4))
    pred[:, 2, 3] = 1.0  # a constant prediction scores 0, not NaN
    r = channel_correlations(pred, obs)
    for c in range(3):
        for t in range(3 if c == 2 else 4):
            assert r[c, t] == pytest.approx(np.corrcoef(pred[:, c, t], obs[:, c, t])[0, 1])
    assert r[2, 3] == 0.0


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    raw = tmp_path_factory.mktemp("avs_loso")
    write_study(raw, SIM)
    return raw


def test_the_unseen_subject_is_predicted_from_its_fixations(study, one_torch_thread):
    backbone = build_backbone(get_spec("alexnet_untrained"))
    features = backbone_features(backbone, "gaze", "features.12", SIM.geometry)
    window = FixationEpochParams(tmin=-0.1, tmax=0.2)  # the peak at 0.11 s, half the targets
    out = loso(study, list(SIM.train_subjects), SIM.heldout_subject, features, CropSpec(), window)
    assert out["n_features"] == 2 * 256 + 1  # foveal, parafoveal, has_next
    assert out["n_test_fixations"] > 40 and out["latency"] == pytest.approx(0.11)
    times = np.array(out["times"])
    curve = np.array(out["median_r_per_time"])
    before = np.abs(curve[times < -0.05]).max()  # before the fixation: the previous ones' tails
    assert out["median_r_at_latency"] > max(0.08, 2 * before)
    assert out["median_r_at_latency"] < out["ceiling_r_median"] + 0.05
    assert abs(times[np.argmax(curve)] - SIM.latency) <= 0.03  # the peak at the latency


def test_crop_features_pool_each_crops_map(one_torch_thread):
    """Way (a): each crop through the backbone, its map averaged over the cells, computed here
    from the crops themselves; the last fixation's parafoveal stream zero, has_next 0."""
    backbone = build_backbone(get_spec("alexnet_untrained"))
    scenes = {
        s: draw
        for s, draw in enumerate(
            np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
        )
    }
    table = pd.DataFrame(
        {
            "scene": [0, 0, 1],
            "trial": [1, 1, 2],
            "x": [10.0, 40.0, 30.0],
            "y": [20.0, 50.0, 5.0],
            "next_x": [40.0, np.nan, np.nan],
            "next_y": [50.0, np.nan, np.nan],
            "has_next": [True, False, False],
        }
    )
    spec, geometry = CropSpec(size_deg=2.0, out_size=64), ScreenGeometry(pixels_per_degree=8.0)
    rows, f = crop_features(backbone, table, scenes, spec, geometry, "features.12")
    assert rows.tolist() == [0, 1, 2] and f.shape == (3, 513)

    def pooled(crop):
        x = inference_batch(backbone, crop.transpose(2, 0, 1)[None])
        with torch.no_grad():
            return backbone.module(x)["features.12"][0].mean(dim=(1, 2)).numpy()

    for r, fix in table.iterrows():
        crops = fixation_crops(scenes[fix.scene], fix, spec, geometry)
        np.testing.assert_allclose(f[r, :256], pooled(crops.foveal), rtol=1e-4, atol=1e-5)
        if fix.has_next:
            np.testing.assert_allclose(
                f[r, 256:512], pooled(crops.parafoveal), rtol=1e-4, atol=1e-5
            )
        else:
            assert not f[r, 256:512].any()
    assert f[:, -1].tolist() == [1, 0, 0]


def test_channel_correlations_of_float32_tesla_values_do_not_underflow():
    """MEG in T/m (~1e-12) as float32: the products of sums of squares would underflow to 0."""
    rng = np.random.default_rng(1)
    obs = (rng.standard_normal((80, 5)) * 1e-12).astype(np.float32)
    pred = (obs + rng.standard_normal((80, 5)).astype(np.float32) * 1e-12).astype(np.float32)
    r = channel_correlations(pred, obs)
    for c in range(5):
        expected = np.corrcoef(pred[:, c].astype(np.float64), obs[:, c].astype(np.float64))[0, 1]
        assert r[c] == pytest.approx(expected, rel=1e-6)
        assert r[c] > 0.3
