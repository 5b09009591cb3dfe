"""The one writer of the trial-indexed prepared store (``results/prepared/{dataset}/sub-{subject}.zarr``).

For data that is not repeated images (BOLD windows for decoding, fixation-locked epochs): a Zarr v3
group with the array ``data`` ``[trial, *targets]`` (float32, chunked along trials), the trial table
as one 1-D array per column in the subgroup ``trials`` (:mod:`bergforge.preprocess.trial_table`)
and group attributes with ``layout: "trials"``. The reader is
:class:`bergforge.preprocess.trial_responses.PreparedTrials`.

The data may come as one array or as blocks of consecutive trials (one run at a time), so a
subject's windows never need to be in memory at once. Everything is checked before it is stored:
a bad table or argument is one :class:`~bergforge.errors.DataError` before anything is written, a
bad block one error while writing; either way the store is built under a temporary name
(:func:`bergforge.preprocess.store.atomic_store`), sealed with ``checksums.json`` last and moved
into place only when complete, so nothing half-written is ever left looking finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge._version import __version__
from bergforge.errors import DataError
from bergforge.preprocess.store import atomic_store, write_attributes
from bergforge.preprocess.trial_table import (
    LAYOUT,
    LAYOUT_VERSION,
    STORED_DTYPE,
    check_trial_table,
    stored_values,
)

MODALITIES = ("meg", "eeg", "fmri")


def trials_per_chunk(target_shape: tuple[int, ...], chunk_mb: float) -> int:
    """How many trials fit in a chunk of about ``chunk_mb`` MB (at least one)."""
    per_trial = int(np.prod(target_shape)) * 4
    return max(1, int(chunk_mb * 1e6 // max(per_trial, 1)))


def write_trial_store(
    path: Path | str,
    table: pd.DataFrame,
    data: np.ndarray | Iterable[np.ndarray],
    *,
    modality: str,
    dataset: str,
    subject: int,
    dims: Sequence[str],
    coords: Mapping[str, Sequence[Any]],
    sampling_period: float,
    preprocessing: Mapping[str, Any],
    allow_nan: bool = False,
    chunk_mb: float = 8.0,
) -> Path:
    """Write the trial-indexed store ``path``; returns it.

    ``data``: one array ``[trial, *targets]`` or blocks ``[n_i, *targets]`` of consecutive trials
    whose rows follow ``table``'s rows. ``dims`` names every axis, ``"trial"`` first (e.g.
    ``["trial", "vertex", "tr"]``); ``coords`` gives the coordinates of every target axis (vertex
    ids, channel names, times or TR offsets). ``sampling_period``: seconds between samples along
    the time axis (the TR for BOLD). NaN and infinite values are refused unless ``allow_nan``,
    which lets NaN (never ±inf) through and is recorded in the attributes.
    """
    path = Path(path)
    source = f"trial store {path}"
    n_rows = None  # known before writing only when the data is one array
    if isinstance(data, np.ndarray):
        n_rows = int(data.shape[0]) if data.ndim else 0
        blocks: Iterable[np.ndarray] = [data]
    else:
        blocks = data
    columns = check_trial_table(table, source, n_rows)
    attrs = _attributes(source, modality, dataset, subject, dims, coords, sampling_period)
    target_shape = tuple(len(coords[d]) for d in attrs["dims"][1:])
    if isinstance(data, np.ndarray):
        _check_shape(source, data.shape[1:], target_shape, attrs["dims"])
    n_trials = len(table)
    with atomic_store(path) as (group, _staging):
        trials = group.create_group("trials")
        for name, kind in columns:
            values = stored_values(table[name], kind)
            trials.create_array(name, shape=(n_trials,), dtype=STORED_DTYPE[kind])[:] = values
        step = trials_per_chunk(target_shape, chunk_mb)
        arr = group.create_array(
            "data",
            shape=(n_trials, *target_shape),
            chunks=(step, *target_shape),
            dtype="float32",
            fill_value=np.nan,
        )
        _write_blocks(arr, blocks, source, target_shape, attrs["dims"], step, allow_nan)
        write_attributes(
            group,
            {
                "layout": LAYOUT,
                "layout_version": LAYOUT_VERSION,
                **attrs,
                "preprocessing": dict(preprocessing),
                "nan_allowed": bool(allow_nan),
                "n_trials": n_trials,
                "trial_columns": [list(c) for c in columns],
                "bergforge_version": __version__,
            },
        )
    return path


def _attributes(
    source: str,
    modality: str,
    dataset: str,
    subject: int,
    dims: Sequence[str],
    coords: Mapping[str, Sequence[Any]],
    sampling_period: float,
) -> dict[str, Any]:
    """The checked descriptive attributes; one :class:`DataError` naming the first bad one."""
    if modality not in MODALITIES:
        raise DataError(f"{source}: modality {modality!r}; expected one of {MODALITIES}")
    dims = [str(d) for d in dims]
    if len(dims) < 2 or dims[0] != "trial" or len(set(dims)) != len(dims):
        raise DataError(
            f"{source}: dims {dims}; expected 'trial' then the unique names of the target axes "
            "(e.g. ['trial', 'vertex', 'tr'])"
        )
    if sorted(coords) != sorted(dims[1:]):
        raise DataError(
            f"{source}: coordinates given for {sorted(coords)}; expected one list for each "
            f"target axis {dims[1:]}"
        )
    if not (np.isfinite(sampling_period) and sampling_period > 0):
        raise DataError(f"{source}: sampling period {sampling_period}; expected seconds > 0")
    return {
        "modality": modality,
        "dataset": str(dataset),
        "subject": int(subject),
        "dims": dims,
        "coords": {d: list(np.asarray(coords[d]).tolist()) for d in dims[1:]},
        "sampling_period": float(sampling_period),
    }


def _check_shape(
    source: str, shape: tuple[int, ...], target_shape: tuple[int, ...], dims: list[str]
) -> None:
    if tuple(shape) != target_shape:
        raise DataError(
            f"{source}: data targets have shape {tuple(shape)}; expected {target_shape} "
            f"({', '.join(dims[1:])}, from the coordinates)"
        )


def _check_values(block: np.ndarray, first: int, source: str, allow_nan: bool) -> None:
    """One error naming the first trial with a value the store refuses."""
    bad = np.isinf(block) if allow_nan else ~np.isfinite(block)
    if bad.any():
        where = np.argwhere(bad)[0]
        allowed = "finite values or NaN" if allow_nan else "finite values (allow_nan not set)"
        raise DataError(
            f"{source}: trial {first + int(where[0])} has {block[tuple(where)]} at target "
            f"{tuple(int(i) for i in where[1:])}; expected {allowed}"
        )


def _write_blocks(
    arr: Any,
    blocks: Iterable[np.ndarray],
    source: str,
    target_shape: tuple[int, ...],
    dims: list[str],
    step: int,
    allow_nan: bool,
) -> None:
    """Write consecutive blocks of trials into ``arr`` one whole chunk at a time."""
    n_trials = int(arr.shape[0])
    pending: list[np.ndarray] = []
    received = written = 0
    for block in blocks:
        block = np.asarray(block)
        _check_shape(source, block.shape[1:], target_shape, dims)
        block = block.astype(np.float32, copy=False)
        _check_values(block, received, source, allow_nan)
        received += len(block)
        if received > n_trials:
            raise DataError(
                f"{source}: the data has more than the trial table's {n_trials} trials; "
                "expected one row per trial"
            )
        pending.append(block)
        while received - written >= step or (received == n_trials and written < received):
            buffer = np.concatenate(pending) if len(pending) > 1 else pending[0]
            size = min(step, len(buffer))
            arr[written : written + size] = buffer[:size]
            written += size
            pending = [buffer[size:]] if size < len(buffer) else []
    if received != n_trials:
        raise DataError(
            f"{source}: the data has {received} trials for a trial table of {n_trials} rows; "
            "expected one row per trial"
        )
