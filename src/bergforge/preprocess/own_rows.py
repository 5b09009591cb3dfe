"""A subject's own rows of a prepared store, read one Zarr chunk of images at a time.

A subject's ``train`` array has a row for every image of the dataset, mostly all-NaN (interface
decision in :mod:`bergforge.preprocess.fmri`). These readers find the rows the subject saw from the
small ``{split}_session`` array (or, without it, from the betas themselves) and read only the
chunks holding them, so host memory holds one chunk, never the whole array. A row counts as seen
when any of its betas is not NaN, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zarr


def candidate_rows(group: zarr.Group, split: str) -> np.ndarray:
    """Rows that may hold betas: ``{split}_session`` ≥ 0 somewhere when present, else every row."""
    probe = f"{split}_session"
    if probe in group:
        return np.flatnonzero((group[probe][:] >= 0).any(axis=1))
    return np.arange(group[split].shape[0])


def iter_seen_blocks(
    array: zarr.Array, rows: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, values ``[n, rep, vertex]``) per Zarr chunk of images, rows not entirely NaN only."""
    rows = np.asarray(rows, dtype=np.int64)
    step = int(array.chunks[0])
    for chunk in np.unique(rows // step):
        lo = int(chunk) * step
        inside = rows[(rows >= lo) & (rows < lo + step)]
        values = array[lo : min(lo + step, array.shape[0])][inside - lo]
        keep = ~np.isnan(values).all(axis=(1, 2))
        yield inside[keep], values[keep]


def seen_values(group: zarr.Group, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows a subject saw and their ``[image, rep, vertex]`` betas (own images only)."""
    array = group[split]
    blocks = list(iter_seen_blocks(array, candidate_rows(group, split)))
    if not blocks:
        return np.empty(0, np.int64), np.empty((0, *array.shape[1:]), np.float32)
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def averaged_targets(group: zarr.Group, split: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Seen rows and their repetition means (n, vertices) float32, memory-mapped from ``path``."""
    array = group[split]
    candidates = candidate_rows(group, split)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(candidates.size, array.shape[2])
    )
    kept, pos = [], 0
    for rows, values in iter_seen_blocks(array, candidates):
        out[pos : pos + rows.size] = np.nanmean(values, axis=1)
        kept.append(rows)
        pos += rows.size
    out.flush()
    rows = np.concatenate(kept) if kept else np.empty(0, np.int64)
    return rows, out[:pos]
