"""Foveal + parafoveal fixation crops in degrees, against a direct computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bergforge.datasets.screen import ScreenGeometry
from bergforge.errors import ConfigError
from bergforge.features.fixation_crops import (
    PAD_VALUE,
    CropSpec,
    crop_pixels,
    crop_side,
    fixation_crops,
    iter_crops,
    kept_rows,
)


def _scene(h: int = 60, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _fixation(x, y, nx, ny, scene=0) -> pd.Series:
    return pd.Series(
        {"scene": scene, "x": x, "y": y, "next_x": nx, "next_y": ny, "has_next": not math.isnan(nx)}
    )


def test_side_in_pixels_from_degrees():
    # 2° at 57 cm on a 40 cm / 1600 px screen: 2 · 57 · tan(1°) cm · 40 px/cm
    g = ScreenGeometry(distance_cm=57.0, screen_width_cm=40.0, screen_width_px=1600)
    assert crop_side(2.0, g) == round(2 * 57 * math.tan(math.radians(1)) * 40)
    assert crop_side(1.5, ScreenGeometry(pixels_per_degree=10.0)) == 15


def test_interior_crop_is_the_scene_slice():
    scene = _scene()
    crop = crop_pixels(scene, x=40.0, y=30.0, side=20)
    np.testing.assert_array_equal(crop, scene[20:40, 30:50])


def test_crop_at_the_edge_is_padded_mid_grey():
    scene = _scene()
    # side 20 around (2, 58): columns -8…11, rows 48…67 of a 60 × 80 scene
    crop = crop_pixels(scene, x=2.0, y=58.0, side=20)
    expected = np.full((20, 20, 3), PAD_VALUE, dtype=np.uint8)
    expected[0:12, 8:20] = scene[48:60, 0:12]
    np.testing.assert_array_equal(crop, expected)
    assert PAD_VALUE == 128


def test_dual_stream_resized_to_the_backbone_input():
    scene = _scene()
    geometry = ScreenGeometry(pixels_per_degree=10.0)
    spec = CropSpec(size_deg=2.0, out_size=32)
    crops = fixation_crops(scene, _fixation(40.0, 30.0, 79.0, 0.0), spec, geometry)
    direct_fov = np.asarray(Image.fromarray(scene[20:40, 30:50]).resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(crops.foveal, direct_fov)
    padded = np.full(
        (20, 20, 3), PAD_VALUE, dtype=np.uint8
    )  # around (79, 0): cols 69…88, rows -10…9
    padded[10:20, 0:11] = scene[0:10, 69:80]
    direct_par = np.asarray(Image.fromarray(padded).resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(crops.parafoveal, direct_par)
    assert crops.has_next


def test_last_fixation_mask_rule_and_drop_rule():
    scene = _scene()
    geometry = ScreenGeometry(pixels_per_degree=10.0)
    last = _fixation(40.0, 30.0, math.nan, math.nan)
    masked = fixation_crops(scene, last, CropSpec(out_size=16), geometry)
    assert not masked.has_next
    assert (masked.parafoveal == PAD_VALUE).all() and masked.parafoveal.shape == (16, 16, 3)
    single = fixation_crops(scene, last, CropSpec(out_size=16, streams="foveal"), geometry)
    assert single.parafoveal is None
    table = pd.DataFrame(
        [
            _fixation(10.0, 10.0, 20.0, 20.0),
            _fixation(20.0, 20.0, math.nan, math.nan),
            _fixation(5.0, 5.0, 6.0, 6.0),
            _fixation(6.0, 6.0, math.nan, math.nan),
        ]
    )
    assert kept_rows(table, CropSpec(last_fixation="drop")).tolist() == [0, 2]
    assert kept_rows(table, CropSpec(last_fixation="mask")).tolist() == [0, 1, 2, 3]
    assert kept_rows(table, CropSpec(streams="foveal", last_fixation="drop")).tolist() == [
        0,
        1,
        2,
        3,
    ]
    rows = [
        c.row
        for c in iter_crops(table, {0: scene}, CropSpec(out_size=8, last_fixation="drop"), geometry)
    ]
    assert rows == [0, 2]


def test_bad_spec_is_a_config_error():
    with pytest.raises(ConfigError, match="last_fixation"):
        CropSpec(last_fixation="skip")
    with pytest.raises(ConfigError, match="streams"):
        CropSpec(streams="triple")
