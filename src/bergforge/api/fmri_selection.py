"""Subject and vertex selection of the MOSAIC fMRI model, as BERG's API exposes it.

``subject``: an int, a list of ints or ``"all"``. ``selection``: a dict with any of ``roi`` (list of
Glasser names such as ``"L_V1"``, indices in the 91,282 space), ``glasser_group`` (int or list of
ints 1–22) and ``voxel_index`` (binary vector over the 57,051 model vertices). Selected indices are
the sorted union of all keys; predictions (B, 57051) are expanded to the 91,282 space (NaN where
the model predicts nothing) and then indexed, so an ROI selection is exactly the matching slice of
the expanded full output. Output: ``{"NaturalScenesDataset": {"sub-01": (B, n_selected), …}}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bergforge.datasets.grayordinates import N_GROUPS, GrayordinateSpace
from bergforge.errors import InvalidParameterError

DATASET_KEY = "NaturalScenesDataset"
SELECTION_KEYS = ("roi", "glasser_group", "voxel_index")


class SelectionError(InvalidParameterError):
    """A subject or vertex selection the model cannot serve (an :class:`InvalidParameterError`)."""


def validate_subjects(subject: int | Sequence[int] | str, available: Sequence[int]) -> list[int]:
    """Subjects as a sorted list of ints from ``available``."""
    valid = sorted(int(s) for s in available)
    if isinstance(subject, str):
        if subject != "all":
            raise SelectionError(
                f"subject must be an int, a list of ints or 'all', got {subject!r}"
            )
        return valid
    items = [subject] if isinstance(subject, (int, np.integer)) else list(subject)
    if not items:
        raise SelectionError("subject list cannot be empty")
    bad = [
        s
        for s in items
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s not in valid
    ]
    if bad:
        raise SelectionError(f"invalid subject(s) {bad}; expected some of {valid} or 'all'")
    return sorted({int(s) for s in items})


def _roi_indices(roi, space: GrayordinateSpace) -> np.ndarray:
    names = [roi] if isinstance(roi, str) else roi
    if (
        not isinstance(names, (list, tuple))
        or not names
        or not all(isinstance(n, str) for n in names)
    ):
        raise SelectionError(
            f"roi must be a name or a non-empty list of names like 'L_V1', got {roi!r}"
        )
    valid = set(space.region_names.values())
    bad = [n for n in names if n not in valid]
    if bad:
        raise SelectionError(
            f"invalid ROI(s) {bad}; expected Glasser names such as 'L_V1', 'R_FFC'"
        )
    return np.concatenate([space.roi_indices(n) for n in names])


def _group_indices(group, space: GrayordinateSpace) -> np.ndarray:
    groups = (
        [group] if isinstance(group, (int, np.integer)) and not isinstance(group, bool) else group
    )
    if not isinstance(groups, (list, tuple)) or not groups:
        raise SelectionError(
            f"glasser_group must be an int or a non-empty list of ints 1–{N_GROUPS}, got {group!r}"
        )
    bad = [
        g
        for g in groups
        if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or not 1 <= g <= N_GROUPS
    ]
    if bad:
        raise SelectionError(f"invalid Glasser group(s) {bad}; expected ints 1–{N_GROUPS}")
    return np.concatenate([space.group_indices(int(g)) for g in groups])


def _voxel_indices(vector, space: GrayordinateSpace) -> np.ndarray:
    v = np.asarray(vector)
    n = space.n_model_vertices
    if v.ndim != 1 or v.size != n:
        raise SelectionError(
            f"voxel_index must be a binary vector of {n} elements, got shape {v.shape}"
        )
    if not np.isin(v, (0, 1)).all():
        raise SelectionError("voxel_index must be binary (only 0s and 1s)")
    if not v.any():
        raise SelectionError("voxel_index selects no vertex; at least one element must be 1")
    return space.vertex_mapping_all[v.astype(bool)]


def selected_grayordinates(selection: dict | None, space: GrayordinateSpace) -> np.ndarray | None:
    """Sorted 91,282-space indices a selection names, or None for no selection (model space)."""
    if selection is None:
        return None
    if not isinstance(selection, dict):
        raise SelectionError(f"selection must be a dict with keys among {list(SELECTION_KEYS)}")
    unknown = sorted(set(selection) - set(SELECTION_KEYS))
    if unknown:
        raise SelectionError(
            f"invalid selection key(s) {unknown}; valid keys are {list(SELECTION_KEYS)}"
        )
    parts = []
    if "roi" in selection:
        parts.append(_roi_indices(selection["roi"], space))
    if "glasser_group" in selection:
        parts.append(_group_indices(selection["glasser_group"], space))
    if "voxel_index" in selection:
        parts.append(_voxel_indices(selection["voxel_index"], space))
    if not parts:
        raise SelectionError(
            "selection is empty; give at least one of roi, glasser_group, voxel_index"
        )
    return np.unique(np.concatenate(parts))


def select_predictions(
    predictions: dict[int, np.ndarray], selection: dict | None, space: GrayordinateSpace
) -> dict[str, dict[str, np.ndarray]]:
    """``{subject: (B, 57051)}`` → ``{"NaturalScenesDataset": {"sub-XX": (B, n_selected)}}``."""
    idx = selected_grayordinates(selection, space)
    out = {}
    for subject, pred in sorted(predictions.items()):
        values = np.asarray(pred)
        out[f"sub-{subject:02d}"] = values if idx is None else space.to_full(values)[..., idx]
    return {DATASET_KEY: out}
