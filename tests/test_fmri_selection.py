"""MOSAIC-style subject and vertex selection on the real grayordinate space."""

from __future__ import annotations

import numpy as np
import pytest

from bergforge.api.fmri_selection import (
    SelectionError,
    select_predictions,
    selected_grayordinates,
    validate_subjects,
)
from bergforge.datasets.grayordinates import N_GRAYORDINATES, grayordinate_space


@pytest.fixture(scope="module")
def space():
    return grayordinate_space()


@pytest.fixture(scope="module")
def predictions(space):
    rng = np.random.default_rng(0)
    return {s: rng.normal(size=(2, space.n_model_vertices)).astype(np.float32) for s in (1, 2)}


def test_roi_selection_is_slice_of_full_output(space, predictions):
    full = select_predictions(predictions, None, space)["NaturalScenesDataset"]
    assert set(full) == {"sub-01", "sub-02"}
    roi = select_predictions(predictions, {"roi": ["L_V1", "R_FFC"]}, space)["NaturalScenesDataset"]
    idx = np.union1d(space.roi_indices("L_V1"), space.roi_indices("R_FFC"))
    for name in full:
        expanded = space.to_full(full[name])
        assert expanded.shape == (2, N_GRAYORDINATES)
        np.testing.assert_array_equal(roi[name], expanded[:, idx])
    # NaN exactly where the ROI holds grayordinates the model drops
    dropped = ~np.isin(idx, space.vertex_mapping_all)
    np.testing.assert_array_equal(np.isnan(roi["sub-01"][0]), dropped)


def test_group_and_voxel_index_selections(space, predictions):
    g1 = selected_grayordinates({"glasser_group": 1}, space)
    np.testing.assert_array_equal(g1, space.group_indices(1))
    vec = np.zeros(space.n_model_vertices, dtype=int)
    vec[[0, 10, 57_050]] = 1
    out = select_predictions(predictions, {"voxel_index": vec}, space)["NaturalScenesDataset"]
    np.testing.assert_array_equal(out["sub-02"], predictions[2][:, [0, 10, 57_050]])
    union = selected_grayordinates({"glasser_group": [1, 2], "roi": "L_V1"}, space)
    np.testing.assert_array_equal(union, np.union1d(space.group_indices(1), space.group_indices(2)))


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"roi": ["V1"]}, "invalid ROI"),
        ({"roi": []}, "non-empty list"),
        ({"glasser_group": 23}, "invalid Glasser group"),
        ({"glasser_group": "3"}, "glasser_group must be"),
        ({"voxel_index": np.ones(10)}, "57051 elements"),
        ({"voxel_index": np.full(57_051, 2)}, "binary"),
        ({"voxel_index": np.zeros(57_051)}, "selects no vertex"),
        ({"channels": ["x"]}, "invalid selection key"),
        ({}, "selection is empty"),
    ],
)
def test_bad_selections(space, selection, message):
    with pytest.raises(SelectionError, match=message):
        selected_grayordinates(selection, space)


def test_subjects():
    assert validate_subjects("all", [2, 1]) == [1, 2]
    assert validate_subjects(2, range(1, 9)) == [2]
    assert validate_subjects([3, 1], range(1, 9)) == [1, 3]
    for bad, message in (
        (9, "invalid subject"),
        ([], "cannot be empty"),
        ("some", "or 'all'"),
        ([True], "invalid"),
    ):
        with pytest.raises(SelectionError, match=message):
            validate_subjects(bad, range(1, 9))
