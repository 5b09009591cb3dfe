"""The fixation table reader (avs_fixations) and the screen geometry."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bergforge.datasets.avs_fixations import (
    FixationTableSpec,
    check_against_epochs,
    read_fixation_table,
)
from bergforge.datasets.screen import ScreenGeometry
from bergforge.errors import ConfigError, DataError

COLUMNS = {
    "scene": "nsdId",
    "trial": "trial_nr",
    "fixation": "fix_nr",
    "onset": "t_on",
    "duration": "dur",
    "x": "fx",
    "y": "fy",
    "next_x": "nfx",
    "next_y": "nfy",
    "session": "ses",
}


def _file_table() -> pd.DataFrame:
    """Two trials of three and two fixations, times in ms, positions in pixels (100 × 80 scene)."""
    return pd.DataFrame(
        {
            "nsdId": [7, 7, 7, 3, 3],
            "trial_nr": [1, 1, 1, 2, 2],
            "fix_nr": [1, 2, 3, 1, 2],
            "t_on": [1000.0, 1300.0, 1560.0, 6000.0, 6250.0],
            "dur": [250.0, 220.0, 300.0, 200.0, 280.0],
            "fx": [50.0, 10.0, 99.5, 50.0, 0.0],
            "fy": [40.0, 70.0, 5.0, 40.0, 80.0],
            "nfx": [10.0, 99.5, np.nan, 0.0, np.nan],
            "nfy": [70.0, 5.0, np.nan, 80.0, np.nan],
            "ses": [1, 1, 1, 1, 1],
        }
    )


def _spec(**kw) -> FixationTableSpec:
    entry = {
        "columns": COLUMNS,
        "time_unit": "ms",
        "position_unit": "pixels",
        "scene_size_px": [100, 80],
    }
    entry.update(kw)
    return FixationTableSpec.from_config(entry)


def _write(tmp_path, table: pd.DataFrame):
    path = tmp_path / "fixations.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


def test_reads_mapped_columns_in_seconds_and_file_order(tmp_path):
    out = read_fixation_table(_write(tmp_path, _file_table()), _spec())
    assert list(out.columns[:10]) == [
        "scene",
        "trial",
        "fixation",
        "onset",
        "duration",
        "x",
        "y",
        "next_x",
        "next_y",
        "session",
    ]
    np.testing.assert_allclose(out["onset"], [1.0, 1.3, 1.56, 6.0, 6.25])
    np.testing.assert_allclose(out["duration"], [0.25, 0.22, 0.3, 0.2, 0.28])
    assert out["scene"].tolist() == [7, 7, 7, 3, 3]  # file order, not sorted
    assert out["has_next"].tolist() == [True, True, False, True, False]


def test_missing_column_is_one_error_naming_it(tmp_path):
    path = _write(tmp_path, _file_table().drop(columns="nfy"))
    with pytest.raises(DataError, match=r"column 'nfy' \(mapped to 'next_y'\) is missing"):
        read_fixation_table(path, _spec())


def test_mapping_must_name_every_required_column():
    cols = dict(COLUMNS)
    del cols["session"]
    with pytest.raises(ConfigError, match=r"lacks \['session'\]"):
        _spec(columns=cols)


def test_time_unit_mismatch(tmp_path):
    path = _write(tmp_path, _file_table())
    with pytest.raises(
        DataError, match=r"'dur' declared in 's'.*median fixation duration of 250 s.*'ms'"
    ):
        read_fixation_table(path, _spec(time_unit="s"))


def test_position_unit_mismatch(tmp_path):
    path = _write(tmp_path, _file_table())
    spec = _spec(position_unit="degrees", screen={"pixels_per_degree": 10.0})
    # the scene spans ±5° (100 px at 10 px/°): 50 "degrees" are pixels
    with pytest.raises(DataError, match=r"'fx' declared in 'degrees' has 50 at row 0.*'pixels'"):
        read_fixation_table(path, spec)


def test_degrees_read_as_pixels_get_a_unit_hint(tmp_path):
    table = _file_table()
    for c, size in (("fx", 100), ("fy", 80), ("nfx", 100), ("nfy", 80)):
        table[c] = (table[c] - size / 2) / 10.0
    with pytest.raises(DataError, match=r"outside the scene.*are positions in degrees"):
        read_fixation_table(_write(tmp_path, table), _spec())


def test_non_numeric_value_is_one_error(tmp_path):
    table = _file_table().astype({"fx": object})
    table.loc[2, "fx"] = "centre"
    with pytest.raises(DataError, match=r"column 'fx' \(x\) row 2 is 'centre'; expected a finite"):
        read_fixation_table(_write(tmp_path, table), _spec())
    table = _file_table().astype({"trial_nr": float})
    table.loc[1, "trial_nr"] = 1.5
    with pytest.raises(DataError, match=r"column 'trial_nr' \(trial\) row 1 .*expected an integer"):
        read_fixation_table(_write(tmp_path, table), _spec())


def test_degrees_from_the_centre_convert_to_pixels(tmp_path):
    table = _file_table()
    for c, size in (("fx", 100), ("fy", 80), ("nfx", 100), ("nfy", 80)):
        table[c] = (table[c] - size / 2) / 10.0  # degrees at 10 px per degree
    out = read_fixation_table(
        _write(tmp_path, table), _spec(position_unit="degrees", screen={"pixels_per_degree": 10.0})
    )
    ref = read_fixation_table(_write(tmp_path, _file_table()), _spec())
    np.testing.assert_allclose(
        out[["x", "y", "next_x", "next_y"]], ref[["x", "y", "next_x", "next_y"]]
    )


def test_fixation_outside_the_scene(tmp_path):
    table = _file_table()
    table.loc[3, "fy"] = 80.5
    with pytest.raises(
        DataError,
        match=r"outside the scene: column 'fy' row 3 \(trial 2, fixation 1\)"
        r" is at 80.5 px; expected 0–80 px",
    ):
        read_fixation_table(_write(tmp_path, table), _spec())


def test_rows_out_of_order_are_refused_not_sorted(tmp_path):
    table = _file_table().iloc[[1, 0, 2, 3, 4]]
    with pytest.raises(DataError, match=r"fixation is 1 after 2.*never reordered"):
        read_fixation_table(_write(tmp_path, table), _spec())
    split = _file_table().iloc[[0, 1, 3, 2, 4]]
    with pytest.raises(DataError, match="rows of trial 1 are not consecutive"):
        read_fixation_table(_write(tmp_path, split), _spec())


def test_next_target_only_missing_on_the_last_fixation(tmp_path):
    table = _file_table()
    table.loc[1, ["nfx", "nfy"]] = np.nan
    with pytest.raises(DataError, match=r"row 1 \(trial 1, fixation 2\): expected a next target"):
        read_fixation_table(_write(tmp_path, table), _spec())


def test_table_must_match_the_epochs(tmp_path):
    table = read_fixation_table(_write(tmp_path, _file_table()), _spec())
    epochs = table[["trial", "fixation"]].copy()
    check_against_epochs(table, epochs, "sub-01")  # the same rows: no error
    with pytest.raises(DataError, match="5 rows for 4 epochs"):
        check_against_epochs(table, epochs.iloc[:4], "sub-01")
    swapped = epochs.iloc[[0, 2, 1, 3, 4]].reset_index(drop=True)
    with pytest.raises(
        DataError,
        match=r"row 1 is \(trial, fixation\) = \(1, 2\) but epoch 1 is "
        r"\(1, 3\).*another order.*never reorders",
    ):
        check_against_epochs(table, swapped, "sub-01")
    other = epochs.copy()
    other.loc[4, "fixation"] = 9
    with pytest.raises(DataError, match=r"row 4 .*expected the same fixations as the epochs"):
        check_against_epochs(table, other, "sub-01")


def test_geometry_pixels_per_degree_is_linear():
    g = ScreenGeometry(pixels_per_degree=30.0, image_scale=0.5)
    assert g.extent_px(2.0) == pytest.approx(30.0)
    assert g.offset_deg(g.offset_px(3.0)) == pytest.approx(3.0)


def test_geometry_from_screen_size_matches_direct_trigonometry():
    g = ScreenGeometry(distance_cm=80.0, screen_width_cm=52.0, screen_width_px=1920)
    px_per_cm = 1920 / 52.0
    # a 2° extent centred on the line of sight; a point 10° off it
    assert g.extent_px(2.0) == pytest.approx(2 * 80.0 * math.tan(math.radians(1.0)) * px_per_cm)
    assert g.offset_px(10.0) == pytest.approx(80.0 * math.tan(math.radians(10.0)) * px_per_cm)
    assert g.extent_deg(g.extent_px(5.0)) == pytest.approx(5.0)
    assert g.offset_deg(-g.offset_px(7.0)) == pytest.approx(-7.0)


def test_geometry_needs_one_complete_description():
    with pytest.raises(ConfigError, match="either pixels_per_degree"):
        ScreenGeometry(distance_cm=80.0)
    with pytest.raises(ConfigError, match="> 0"):
        ScreenGeometry(pixels_per_degree=-1.0)
