"""Readers of MOSAIC's per-subject beta files and NSD's stimulus brick, streamed with h5py.

- MOSAIC betas (``sub-XX_NSD.hdf5``): group ``betas`` with one (91282,) dataset per stimulus or
  trial, in the HCP grayordinate space. :class:`MosaicBetas` reads any subset of stimuli and
  vertices without loading the file.
- NSD stimuli (``nsd_stimuli.hdf5``): dataset ``imgBrick`` (73000, 425, 425, 3) uint8, row =
  73k id − 1. :class:`NsdStimuli` reads rows in batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from bergforge.datasets.grayordinates import N_GRAYORDINATES
from bergforge.errors import DataError


def _open(path: Path) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file ({err})") from err


class MosaicBetas:
    """One MOSAIC subject file: ``betas/<stimulus>`` arrays of 91,282 grayordinates."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = _open(self.path)
        if "betas" not in self._file or not isinstance(self._file["betas"], h5py.Group):
            self._file.close()
            raise DataError(f"{self.path}: expected a group 'betas' with one dataset per stimulus")
        self._group = self._file["betas"]

    def __enter__(self) -> MosaicBetas:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    @property
    def names(self) -> list[str]:
        """Stimulus (or trial) names in the file, sorted."""
        return sorted(self._group.keys())

    def read(self, names: Sequence[str], vertices: np.ndarray | None = None) -> np.ndarray:
        """(len(names), n_vertices) float32; ``vertices`` indexes the 91,282 space (all if None)."""
        idx = None
        if vertices is not None:
            idx = np.asarray(vertices)
            if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= N_GRAYORDINATES)):
                raise DataError(f"vertices must be a 1-D index into 0…{N_GRAYORDINATES - 1}")
        out = np.empty((len(names), N_GRAYORDINATES if idx is None else idx.size), dtype=np.float32)
        for row, name in enumerate(names):
            if name not in self._group:
                raise DataError(f"{self.path}: no stimulus {name!r} in group 'betas'")
            dset = self._group[name]
            if dset.shape != (N_GRAYORDINATES,):
                raise DataError(
                    f"{self.path}: betas/{name} has shape {dset.shape}; expected ({N_GRAYORDINATES},)"
                )
            values = dset[()]
            out[row] = values if idx is None else values[idx]
        return out


class NsdStimuli:
    """NSD's ``nsd_stimuli.hdf5``: ``imgBrick`` (n, H, W, 3) uint8, row = 73k id − 1."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = _open(self.path)
        brick = self._file.get("imgBrick")
        if brick is None or brick.ndim != 4 or brick.shape[3] != 3 or brick.dtype != np.uint8:
            shape = None if brick is None else (brick.shape, brick.dtype)
            self._file.close()
            raise DataError(
                f"{self.path}: expected dataset 'imgBrick' (n, H, W, 3) uint8, got {shape}"
            )
        self._brick = brick

    def __enter__(self) -> NsdStimuli:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __len__(self) -> int:
        return int(self._brick.shape[0])

    def read(self, ids_73k: Sequence[int]) -> np.ndarray:
        """(n, H, W, 3) uint8 images for 1-based 73k ids, in the order given."""
        ids = np.asarray(ids_73k, dtype=np.int64)
        if ids.size and (ids.min() < 1 or ids.max() > len(self)):
            raise DataError(f"73k ids must lie in 1…{len(self)}, got {ids.min()}…{ids.max()}")
        rows = ids - 1
        order = np.argsort(rows, kind="stable")
        unique, inverse = np.unique(rows[order], return_inverse=True)
        block = self._brick[unique]  # h5py needs increasing indices
        out = np.empty((ids.size, *self._brick.shape[1:]), dtype=np.uint8)
        out[order] = block[inverse]
        return out

    def iter_batches(self, ids_73k: Sequence[int], batch_size: int = 64) -> Iterator[np.ndarray]:
        """Images of ``ids_73k`` in batches, never more than ``batch_size`` in memory."""
        ids = list(ids_73k)
        for start in range(0, len(ids), batch_size):
            yield self.read(ids[start : start + batch_size])


def read_stimulus_table(path: Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """A MOSAIC ``*_stiminfo.tsv`` or ``participants.tsv``; ``required`` columns must be present."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    return table
