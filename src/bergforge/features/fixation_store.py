"""The fixation feature store of the free-viewing stage: one subject's features per fixation.

A sealed Zarr group (:func:`bergforge.preprocess.store.atomic_store`, checked against its
``checksums.json`` when opened) holding

- ``features`` ``[n_kept, 2·C + 1]`` float32: per kept fixation ``C`` foveal values, ``C``
  parafoveal values (zero without a next target) and ``has_next`` (1/0), the dual stream of
  :mod:`bergforge.features.fixation_features` under the ``mask`` rule; under ``drop`` the last
  fixations are left out and the column is all ones. The foveal-only stream is the first ``C``
  columns of the same rows, so both streams are compared on the same fixations.
- ``rows`` ``[n_kept]`` int64: the row of the canonical fixation table (and of the subject's
  prepared epochs) of each feature row, ascending.

Attributes: backbone, layer, route (``crops`` or ``gaze``), crop size, last-fixation rule,
``n_per_stream`` (C), the table's row count, and the cost of the route (``seconds`` of backbone
work, ``forwards`` images through the backbone, ``peak_rss_mb`` of the job) for the leaderboard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError
from bergforge.preprocess.store import atomic_store, write_attributes
from bergforge.store_manifest import open_verified_group

LAYOUT = "fixation_features"
STREAM_COLUMNS = {"dual": "foveal + parafoveal + has_next", "foveal": "foveal"}


def write_fixation_features(
    path: Path | str, rows: np.ndarray, features: np.ndarray, attrs: dict[str, Any]
) -> Path:
    """Write the store ``path`` (atomic: an interrupted write leaves nothing that looks done)."""
    path = Path(path)
    rows = np.asarray(rows, dtype=np.int64)
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or len(rows) != len(features) or features.shape[1] % 2 != 1:
        raise DataError(
            f"fixation features {path}: features {features.shape} and rows {rows.shape}; expected "
            "[n, 2·C + 1] with one row index per feature row"
        )
    if not np.isfinite(features).all():
        raise DataError(f"fixation features {path}: non-finite feature values")
    if len(rows) and (np.any(np.diff(rows) <= 0) or rows[0] < 0):
        raise DataError(f"fixation features {path}: rows must be ascending table rows")
    with atomic_store(path) as (group, _staging):
        group.create_array("features", shape=features.shape, dtype="float32")[:] = features
        group.create_array("rows", shape=rows.shape, dtype="int64")[:] = rows
        n_per_stream = (features.shape[1] - 1) // 2
        write_attributes(group, {"layout": LAYOUT, "n_per_stream": n_per_stream, **attrs})
    return path


class FixationFeatures:
    """One subject's fixation features, opened read-only and verified."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        label = f"fixation features {self.path}"
        group = open_verified_group(self.path, label)
        self.attrs: dict[str, Any] = dict(group.attrs)
        if self.attrs.get("layout") != LAYOUT or "features" not in group or "rows" not in group:
            raise DataError(f"{label} is not a fixation feature store (layout {LAYOUT!r})")
        self.rows = np.asarray(group["rows"][:], dtype=np.int64)
        self._features = group["features"]
        if self._features.shape[0] != len(self.rows):
            raise DataError(
                f"{label}: {self._features.shape[0]} feature rows, {len(self.rows)} rows"
            )
        self.n_per_stream = int(self.attrs["n_per_stream"])

    def read(self, stream: str) -> np.ndarray:
        """``[n_kept, F]`` float32 of ``stream``: ``dual`` (all columns) or ``foveal`` (first C)."""
        if stream not in STREAM_COLUMNS:
            raise DataError(f"stream {stream!r}; expected one of {list(STREAM_COLUMNS)}")
        values = np.asarray(self._features[:], dtype=np.float32)
        return values if stream == "dual" else values[:, : self.n_per_stream]

    @property
    def cost(self) -> dict[str, Any]:
        """The route's cost in this job: seconds, forwards, peak RSS (MB)."""
        return {k: self.attrs.get(k) for k in ("seconds", "forwards", "peak_rss_mb")}
