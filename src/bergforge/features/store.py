"""The one reader of the feature shards: one ``[image, feature]`` matrix without copying them.

``FeatureStore.open(paths)`` takes shard stores (``shard-{i}-of-{n}.zarr``), a manifest
``features.json`` or the folder holding it. Columns run layer after layer in the order of the
shard's ``layers`` attribute; rows run shard after shard (the order of ``stimuli.tsv``).
:func:`read_feature_manifest` reads ``features.json`` (e.g. its backbone ``spec`` for export).
The writers are :func:`bergforge.features.writer.write_shard` and
:func:`bergforge.features.manifest_job.write_manifest`. Every shard is read through
:func:`bergforge.store_manifest.open_verified_group`: a missing, damaged or swapped chunk is a
:class:`~bergforge.errors.DataError` naming the shard and the chunk, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError
from bergforge.features.cast import as_float32, consecutive_slice, copy_to_float32
from bergforge.store_manifest import open_verified_group

MANIFEST = "features.json"


@dataclass(frozen=True)
class _Shard:
    path: Path
    group: Any
    start: int
    stop: int


def _expand(paths: Sequence[Path | str] | Path | str) -> list[Path]:
    if isinstance(paths, str | Path):
        path = Path(paths)
        if path.is_dir() and path.suffix != ".zarr":
            path = path / MANIFEST
        if path.suffix == ".json":
            return [path.parent / name for name in read_feature_manifest(path)["shards"]]
        return [path]
    return [Path(p) for p in paths]


def read_feature_manifest(path: Path | str) -> dict[str, Any]:
    """``features.json`` as written (key order kept): shards, shape, layers, dtype, ``spec``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature manifest {path} not found")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as err:
        raise DataError(f"feature manifest {path}: not valid JSON ({err})") from err
    if not isinstance(manifest, dict):
        raise DataError(f"feature manifest {path}: expected a JSON object")
    return manifest


def _open_group(path: Path):
    """The shard's group, every file checked against its ``checksums.json`` when read."""
    return open_verified_group(path, f"feature shard {path}")


class FeatureStore:
    """Feature shards seen as one matrix ``[n_images, n_features]`` (read lazily, float32 out)."""

    def __init__(self, shards: list[_Shard], layers: list[str], sizes: list[int]) -> None:
        self._shards = shards
        self.layers: list[str] = layers
        self.layer_sizes: dict[str, int] = dict(zip(layers, sizes, strict=True))
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.layer_slices: dict[str, slice] = {
            name: slice(int(offsets[k]), int(offsets[k + 1])) for k, name in enumerate(layers)
        }
        self.shape: tuple[int, int] = (shards[-1].stop, int(offsets[-1]))
        self.attrs: dict[str, Any] = dict(shards[0].group.attrs)

    @classmethod
    def open(cls, paths: Sequence[Path | str] | Path | str) -> FeatureStore:
        """Open shard stores (any order), a ``features.json`` manifest or its folder."""
        groups = [(p, _open_group(p)) for p in _expand(paths)]
        if not groups:
            raise DataError("FeatureStore.open: no shard paths given")
        groups.sort(key=lambda pg: pg[1].attrs["shard"][0])
        first = groups[0][1].attrs
        n_shards = first["shard"][1]
        found = [g.attrs["shard"] for _, g in groups]
        expected = [[i, n_shards] for i in range(1, n_shards + 1)]
        if [list(s) for s in found] != expected:
            names = [p.name for p, _ in groups]
            raise DataError(
                f"feature shards {names} are not one complete set; expected shard-1…"
                f"{n_shards}-of-{n_shards}"
            )
        shards, stop = [], 0
        for path, group in groups:
            if list(group.attrs["layers"]) != list(first["layers"]):
                raise DataError(f"feature shard {path} has layers that differ from shard 1")
            start, end = group.attrs["rows"]
            if start != stop:
                raise DataError(f"feature shard {path} starts at row {start}; expected {stop}")
            shards.append(_Shard(path, group, start, end))
            stop = end
        return cls(shards, list(first["layers"]), [int(s) for s in first["layer_sizes"]])

    @property
    def image_ids(self) -> list[str]:
        """Image ids of every row, in order."""
        return [i for s in self._shards for i in s.group.attrs["image_ids"]]

    def read_columns(self, start: int, stop: int, rows: Sequence[int] | None = None) -> np.ndarray:
        """Columns ``[start, stop)`` of the rows ``rows`` (all rows if None) as float32."""
        n_images, n_features = self.shape
        if not 0 <= start <= stop <= n_features:
            raise IndexError(f"columns [{start}, {stop}) outside [0, {n_features})")
        row_index = np.arange(n_images) if rows is None else np.asarray(rows, dtype=np.int64)
        if row_index.size and (row_index.min() < 0 or row_index.max() >= n_images):
            raise IndexError(f"rows outside [0, {n_images})")
        out = np.empty((row_index.size, stop - start), dtype=np.float32)
        order = np.argsort(row_index, kind="stable")
        sorted_rows = row_index[order]
        for shard in self._shards:
            lo, hi = np.searchsorted(sorted_rows, [shard.start, shard.stop])
            if lo == hi:
                continue
            local = sorted_rows[lo:hi] - shard.start
            selection = consecutive_slice(local)
            if selection is None:
                selection = local
            for layer in self.layers:
                cols = self.layer_slices[layer]
                c0, c1 = max(start, cols.start), min(stop, cols.stop)
                if c0 >= c1:
                    continue
                array = shard.group[layer]
                block = array.get_orthogonal_selection(
                    (selection, slice(c0 - cols.start, c1 - cols.start))
                )
                rows_out = consecutive_slice(order[lo:hi])
                if rows_out is not None:  # a view of out: converted in place, fast
                    copy_to_float32(out[rows_out, c0 - start : c1 - start], block)
                else:
                    out[order[lo:hi], c0 - start : c1 - start] = as_float32(block)
        return out

    def read_rows(self, rows: Sequence[int]) -> np.ndarray:
        """All features of the rows ``rows`` as float32."""
        return self.read_columns(0, self.shape[1], rows)

    def read_layer(self, layer: str, rows: Sequence[int] | None = None) -> np.ndarray:
        """The features of one layer as float32."""
        cols = self.layer_slices[layer]
        return self.read_columns(cols.start, cols.stop, rows)

    def as_dask(self):
        """A lazy dask array ``[n_images, n_features]`` float32 over the shard chunks (no copy)."""
        import dask.array as da

        blocks = [
            da.concatenate([da.from_zarr(s.group[layer]) for layer in self.layers], axis=1)
            for s in self._shards
        ]
        return da.concatenate(blocks, axis=0).astype(np.float32)
