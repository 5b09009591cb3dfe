"""Gaze-contingent sampling (bergforge.features.gaze_sampling) against references written here:
bilinear reads by hand, the preset's geometry through torchvision's own transform, the token grid
and the last-fixation rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bergforge.errors import ConfigError, DataError
from bergforge.features.fixation_crops import CropSpec
from bergforge.features.gaze_sampling import (
    gaze_features,
    input_coordinates,
    outside_crop,
    preset_geometry,
    sample_points,
    scene_maps,
    spatial_map,
)
from bergforge.features.image_paths import inference_batch
from bergforge.features.models import build_backbone
from bergforge.features.registry import get_spec

RESIZE, CROP = 256, 224


def bilinear_by_hand(fmap: np.ndarray, x: float, y: float, hw: tuple[int, int]) -> np.ndarray:
    """The map read at scene point (x, y): the preset's resize of the shorter side to 256 and
    centre crop of 224, then cell centres at (j + 0.5)·224/w, clamped at the border cells."""
    h_scene, w_scene = hw
    s = RESIZE / min(h_scene, w_scene)
    px = x * s - (w_scene * s - CROP) / 2
    py = y * s - (h_scene * s - CROP) / 2
    _, h, w = fmap.shape
    gx = np.clip(px * w / CROP - 0.5, 0, w - 1)
    gy = np.clip(py * h / CROP - 0.5, 0, h - 1)
    x0, y0 = int(np.floor(gx)), int(np.floor(gy))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    ax, ay = gx - x0, gy - y0
    return (
        fmap[:, y0, x0] * (1 - ax) * (1 - ay)
        + fmap[:, y0, x1] * ax * (1 - ay)
        + fmap[:, y1, x0] * (1 - ax) * ay
        + fmap[:, y1, x1] * ax * ay
    )


def test_bilinear_reads_equal_a_direct_computation():
    rng = np.random.default_rng(0)
    fmap = rng.standard_normal((5, 6, 7)).astype(np.float32)
    hw = (300, 425)  # not square: the crop trims the long side more
    x = np.concatenate([rng.uniform(0, 425, 40), [0.0, 425.0, 5.0]])
    y = np.concatenate([rng.uniform(0, 300, 40), [0.0, 300.0, 150.0]])
    got = sample_points(torch.from_numpy(fmap), x, y, hw, RESIZE, CROP)
    want = np.stack([bilinear_by_hand(fmap, a, b, hw) for a, b in zip(x, y, strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # a point on a cell's centre reads that cell exactly
    cx, cy = 2, 4  # cell (row 4, column 2) of the 6 × 7 map
    px, py = (cx + 0.5) * CROP / 7, (cy + 0.5) * CROP / 6
    s = RESIZE / 300
    sx, sy = (px + (425 * s - CROP) / 2) / s, (py + (300 * s - CROP) / 2) / s
    got = sample_points(torch.from_numpy(fmap), np.array([sx]), np.array([sy]), hw, RESIZE, CROP)
    np.testing.assert_allclose(got[0], fmap[:, cy, cx], rtol=1e-5, atol=1e-6)


def test_the_geometry_is_the_presets_own():
    """A bright pixel of the scene lands where input_coordinates says, through torchvision's preset."""
    backbone = build_backbone(get_spec("alexnet_untrained"))
    assert preset_geometry(backbone) == (RESIZE, CROP)
    h, w = 200, 280
    for x, y in ((140, 100), (100, 60), (200, 150)):
        scene = np.zeros((1, 3, h, w), dtype=np.uint8)
        scene[0, :, y - 2 : y + 2, x - 2 : x + 2] = 255  # a 4 × 4 block centred on (x, y)
        net = inference_batch(backbone, scene)[0, 0].numpy()
        rows, cols = np.nonzero(net > net.min() + 0.5 * (net.max() - net.min()))
        u, v = input_coordinates(np.array([x]), np.array([y]), (h, w), RESIZE, CROP)
        assert abs(cols.mean() + 0.5 - u[0]) < 1.0 and abs(rows.mean() + 0.5 - v[0]) < 1.0
    cut = outside_crop(np.array([2.0, 140.0]), np.array([100.0, 100.0]), (h, w), RESIZE, CROP)
    assert cut.tolist() == [True, False]  # the crop trims ≈ 28 scene pixels off each side


def test_token_grids_and_flat_layers():
    conv = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert spatial_map(conv, "c") is conv
    tokens = torch.randn(2, 1 + 9, 5)  # a class token, then 3 × 3 patches in row-major order
    grid = spatial_map(tokens, "t")
    assert grid.shape == (2, 5, 3, 3)
    torch.testing.assert_close(grid[1, :, 2, 1], tokens[1, 1 + 2 * 3 + 1])
    with pytest.raises(DataError, match="no spatial map"):
        spatial_map(torch.randn(2, 10), "classifier.6")
    # DINOv2 with 4 registers: 1 + 4 + 16 tokens → the fewest leading tokens that leave a grid
    assert spatial_map(torch.randn(1, 21, 4), "t").shape == (1, 4, 4, 4)
    with pytest.raises(DataError, match="square grid"):
        spatial_map(torch.randn(1, 35, 4), "t")  # 35 − k is no square for k = 0 … 8


def test_scene_maps_keep_the_spatial_layers():
    backbone = build_backbone(get_spec("alexnet_untrained"))
    scenes = np.random.default_rng(1).integers(0, 256, (2, 3, 64, 80), dtype=np.uint8)
    maps = scene_maps(backbone, scenes)
    assert list(maps) == ["features.2", "features.5", "features.7", "features.9", "features.12"]
    assert maps["features.12"].shape == (2, 256, 6, 6)
    one = scene_maps(backbone, scenes[1:], layers=["features.12"])
    torch.testing.assert_close(one["features.12"][0], maps["features.12"][1])
    with pytest.raises(DataError, match="no spatial map"):
        scene_maps(backbone, scenes, layers=["classifier.6"])


def fixation_table() -> pd.DataFrame:
    """Two trials (scenes 7 and 9) of 3 and 2 fixations; the last of each has no next target."""
    x = [10.0, 50.0, 90.0, 20.0, 70.0]
    y = [15.0, 40.0, 60.0, 30.0, 10.0]
    return pd.DataFrame(
        {
            "scene": [7, 7, 7, 9, 9],
            "trial": [1, 1, 1, 2, 2],
            "fixation": [0, 1, 2, 0, 1],
            "x": x,
            "y": y,
            "next_x": [50.0, 90.0, np.nan, 70.0, np.nan],
            "next_y": [40.0, 60.0, np.nan, 10.0, np.nan],
            "has_next": [True, True, False, True, False],
        }
    )


def test_dual_stream_features_and_the_last_fixation_rules():
    rng = np.random.default_rng(2)
    maps = {
        s: {"a": torch.from_numpy(rng.standard_normal((3, 5, 5)).astype(np.float32))}
        | {"b": torch.from_numpy(rng.standard_normal((2, 2, 2)).astype(np.float32))}
        for s in (7, 9)
    }
    hw = {7: (100, 100), 9: (100, 100)}
    table = fixation_table()

    def read(scene, x, y):
        return np.concatenate(
            [bilinear_by_hand(maps[scene][k].numpy(), x, y, hw[scene]) for k in ("a", "b")]
        )

    rows, f = gaze_features(table, maps, hw, CropSpec(), RESIZE, CROP)
    assert rows.tolist() == [0, 1, 2, 3, 4] and f.shape == (5, 5 + 5 + 1)
    for r, fix in table.iterrows():
        np.testing.assert_allclose(f[r, :5], read(fix.scene, fix.x, fix.y), atol=1e-5)
        if fix.has_next:
            np.testing.assert_allclose(
                f[r, 5:10], read(fix.scene, fix.next_x, fix.next_y), atol=1e-5
            )
        else:
            assert not f[r, 5:10].any()
    assert f[:, -1].tolist() == [1, 1, 0, 1, 0]

    rows, f = gaze_features(table, maps, hw, CropSpec(last_fixation="drop"), RESIZE, CROP)
    assert rows.tolist() == [0, 1, 3] and f.shape == (3, 10)
    np.testing.assert_allclose(f[2, 5:], read(9, 70.0, 10.0), atol=1e-5)

    rows, f = gaze_features(table, maps, hw, CropSpec(streams="foveal"), RESIZE, CROP)
    assert rows.tolist() == [0, 1, 2, 3, 4] and f.shape == (5, 5)

    with pytest.raises(DataError, match=r"scenes \[9\]"):
        gaze_features(table, {7: maps[7]}, hw, CropSpec(), RESIZE, CROP)


def test_a_backbone_without_a_preset_is_refused():
    backbone = build_backbone(get_spec("alexnet_untrained"))
    backbone.inference_transform = None
    with pytest.raises(ConfigError, match="no torchvision preset"):
        preset_geometry(backbone)
