"""The one reader of the trial-indexed prepared store (``layout: "trials"``).

:class:`PreparedTrials` opens a store written by
:func:`bergforge.preprocess.trials_store.write_trial_store`; every other stage reads trials through
it. Every file is checked against the store's ``checksums.json`` when read
(:func:`bergforge.store_manifest.open_verified_group`), so a damaged chunk or an edited trial table
is a :class:`~bergforge.errors.DataError` naming the store and the file, never wrong values. An
image-indexed store (read by :class:`bergforge.preprocess.responses.PreparedResponses`) is refused
with an error saying so.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.errors import DataError
from bergforge.preprocess.trial_table import (
    KINDS,
    LAYOUT,
    LAYOUT_VERSION,
    REQUIRED,
    SPLITS,
    table_from_columns,
)
from bergforge.store_manifest import open_verified_group


class PreparedTrials:
    """One subject's trial-indexed prepared store, opened read-only; ``data`` is read lazily."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.label = f"trial store {self.path}"
        self.group = open_verified_group(self.path, self.label)
        self.attrs: dict[str, Any] = dict(self.group.attrs)
        layout = self.attrs.get("layout", "images")
        if layout != LAYOUT:
            raise DataError(
                f"{self.label} has layout {layout!r} (image-indexed: arrays train/test "
                "[image, repetition, …]); expected layout 'trials'. Read it with "
                "bergforge.preprocess.responses.PreparedResponses"
            )
        if self.attrs.get("layout_version") != LAYOUT_VERSION:
            raise DataError(
                f"{self.label}: layout version {self.attrs.get('layout_version')!r}; this "
                f"bergforge reads version {LAYOUT_VERSION}"
            )
        if "data" not in self.group or "trials" not in self.group:
            raise DataError(f"{self.label} lacks the 'data' array or the 'trials' table")
        self.data = self.group["data"]
        self.dims: list[str] = list(self.attrs["dims"])
        self.target_shape: tuple[int, ...] = tuple(int(s) for s in self.data.shape[1:])
        self.columns: list[tuple[str, str]] = [
            (str(n), str(k)) for n, k in self.attrs["trial_columns"]
        ]
        self._check_layout()

    def _check_layout(self) -> None:
        n = self.n_trials
        if len(self.dims) != self.data.ndim or n != int(self.attrs.get("n_trials", -1)):
            raise DataError(
                f"{self.label}: data shape {self.data.shape} does not match dims {self.dims} "
                f"and n_trials {self.attrs.get('n_trials')}"
            )
        names = [name for name, _ in self.columns]
        if names[: len(REQUIRED)] != list(REQUIRED) or any(k not in KINDS for _, k in self.columns):
            raise DataError(f"{self.label}: trial columns {self.columns} are not a trial table's")
        stored = self.group["trials"]
        for name in names:
            if name not in stored or stored[name].shape != (n,):
                raise DataError(f"{self.label}: trial column {name!r} is missing or not {n} rows")

    @property
    def n_trials(self) -> int:
        return int(self.data.shape[0])

    @property
    def modality(self) -> str:
        return str(self.attrs["modality"])

    @property
    def dataset(self) -> str:
        return str(self.attrs["dataset"])

    @property
    def subject(self) -> int:
        return int(self.attrs["subject"])

    @property
    def coords(self) -> dict[str, list[Any]]:
        """The coordinates of each target axis (vertex ids, channel names, times, TR offsets)."""
        return {k: list(v) for k, v in self.attrs["coords"].items()}

    @property
    def sampling_period(self) -> float:
        """Seconds between samples along the time axis (the TR for BOLD windows)."""
        return float(self.attrs["sampling_period"])

    @property
    def preprocessing(self) -> dict[str, Any]:
        return dict(self.attrs["preprocessing"])

    @cached_property
    def trials(self) -> pd.DataFrame:
        """The trial table (row ``k`` describes ``data[k]``), with the kinds it was written with."""
        stored = self.group["trials"]
        columns = {name: np.asarray(stored[name][:]) for name, _ in self.columns}
        table = table_from_columns(columns, self.columns)
        bad = ~table["split"].isin(SPLITS).to_numpy()
        if bad.any():
            raise DataError(
                f"{self.label}: trial {int(np.flatnonzero(bad)[0])} has split "
                f"{table['split'][bad].iloc[0]!r}; expected one of {SPLITS}"
            )
        return table

    def split_trials(self, split: str) -> np.ndarray:
        """The trial indices (ascending) of ``split``."""
        if split not in SPLITS:
            raise DataError(f"{self.label}: split {split!r}; expected one of {SPLITS}")
        return np.flatnonzero(self.trials["split"].to_numpy() == split)

    def read(self, trials: np.ndarray | list[int] | None = None) -> np.ndarray:
        """``data`` of the given trial indices, in that order (all trials if None); float32."""
        if trials is None:
            return np.asarray(self.data[...])
        index = np.asarray(trials)
        if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
            raise DataError(f"{self.label}: trial indices must be a 1-D list of integers")
        if index.size == 0:
            return np.empty((0, *self.target_shape), dtype=np.float32)
        if index.min() < 0 or index.max() >= self.n_trials:
            raise DataError(
                f"{self.label}: trial indices {int(index.min())}…{int(index.max())}; expected "
                f"0…{self.n_trials - 1}"
            )
        return np.asarray(self.data.oindex[index.astype(np.int64)])

    def read_split(self, split: str) -> tuple[pd.DataFrame, np.ndarray]:
        """The trial table rows of ``split`` (index = trial) and their data."""
        index = self.split_trials(split)
        return self.trials.iloc[index], self.read(index)
