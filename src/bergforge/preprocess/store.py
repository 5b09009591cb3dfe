"""The one writer of the prepared response store (``results/prepared/{dataset}/sub-{subject}.zarr``).

Every format's preprocessing opens its new store with :func:`atomic_store` (the reader is
:class:`bergforge.preprocess.responses.PreparedResponses`). MEG/EEG stage epochs unit by unit, then
sort them into a Zarr group.

Each preprocessing unit (a MEG run, an EEG session partition) is preprocessed on its own and its
epochs are staged to a ``.npy`` file beside the store. When every unit is staged, the epochs are
sorted into ``train``/``test`` arrays ``[image, repetition, channel, time]`` one image chunk at a
time, reading only the staged rows that chunk needs (memory-mapped). So peak memory is one unit or
one chunk, whatever the number of units. The group is written under a temporary name in the same
folder (:func:`bergforge.atomic.atomic_folder`), sealed with the checksums of its files
(``checksums.json``, written last) and swapped in only when complete; on any error nothing is left
behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr

from bergforge.atomic import atomic_folder, scratch_folder
from bergforge.errors import DataError
from bergforge.store_checksums import seal_store

log = logging.getLogger(__name__)

SPLITS = ("train", "test")


@dataclass
class EpochBlock:
    """The preprocessed epochs of one unit, with the array row (``index``) of each epoch's image."""

    data: np.ndarray  # (n_epochs, n_channels, n_times)
    split: np.ndarray  # (n_epochs,) "train" / "test"
    index: np.ndarray  # (n_epochs,) row of the image in its split's array
    channels: list[str]
    times: np.ndarray
    session: int | np.ndarray = -1  # one value, or one per epoch
    run: int | np.ndarray = -1
    source: str = ""


@dataclass
class EpochStaging:
    """Staged epochs of every unit of one subject (files in ``folder``, table in memory)."""

    folder: Path
    channels: list[str] | None = None
    times: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)
    rows: list[pd.DataFrame] = field(default_factory=list)

    def add(self, block: EpochBlock) -> None:
        """Stage one unit's epochs; every unit must have the same channels and times."""
        if self.channels is None:
            self.channels, self.times = list(block.channels), np.asarray(block.times)
        elif list(block.channels) != self.channels:
            raise DataError(
                f"{block.source}: channels differ from the first unit's "
                f"({len(block.channels)} vs {len(self.channels)} channels); expected the same set"
            )
        elif len(block.times) != len(self.times) or not np.allclose(block.times, self.times):
            raise DataError(f"{block.source}: epoch times differ from the first unit's")
        unit = len(self.files)
        path = self.folder / f"unit-{unit:05d}.npy"
        np.save(path, np.ascontiguousarray(block.data, dtype=np.float32))
        self.files.append(path)
        n = len(block.data)
        self.rows.append(
            pd.DataFrame(
                {
                    "unit": np.full(n, unit),
                    "row": np.arange(n),
                    "split": block.split,
                    "index": block.index,
                    "session": np.broadcast_to(np.asarray(block.session), (n,)),
                    "run": np.broadcast_to(np.asarray(block.run), (n,)),
                }
            )
        )

    def table(self) -> pd.DataFrame:
        """All staged epochs in staging order (chronological when units are added in order)."""
        if not self.rows:
            raise DataError(f"no epochs were staged in {self.folder}")
        return pd.concat(self.rows, ignore_index=True)

    def gather(self, unit_rows: pd.DataFrame) -> np.ndarray:
        """The staged epochs of ``unit_rows`` (columns unit, row), in that order."""
        out = np.empty((len(unit_rows), len(self.channels), len(self.times)), dtype=np.float32)
        for unit, part in unit_rows.groupby("unit", sort=False):
            staged = np.load(self.files[unit], mmap_mode="r")
            out[np.flatnonzero(unit_rows.unit.to_numpy() == unit)] = staged[part.row.to_numpy()]
            del staged
        return out


def assign_repetitions(
    table: pd.DataFrame, max_reps: dict[str, int | None]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Number each image's epochs 0, 1, … in staging order; drop those beyond ``max_reps``.

    Returns the kept rows with a ``rep`` column and the repetition count of each split (the most
    any image has, capped)."""
    table = table.copy()
    table["rep"] = table.groupby(["split", "index"], sort=False).cumcount()
    n_reps = {}
    for split in SPLITS:
        counts = table.loc[table.split == split, "rep"]
        most = int(counts.max()) + 1 if len(counts) else 1
        cap = max_reps.get(split)
        n_reps[split] = min(most, cap) if cap else most
    keep = table.rep < table.split.map(n_reps)
    return table[keep.to_numpy()], n_reps


def images_per_chunk(n_reps: int, n_channels: int, n_times: int, chunk_mb: float) -> int:
    """How many images fit in a chunk of about ``chunk_mb`` MB (at least one)."""
    per_image = n_reps * n_channels * n_times * 4
    return max(1, int(chunk_mb * 1e6 // per_image))


def write_split_arrays(
    group,
    staging: EpochStaging,
    n_images: dict[str, int],
    max_reps: dict[str, int | None],
    chunk_mb: float,
) -> dict[str, int]:
    """Sort the staged epochs into ``train``/``test`` (+ ``*_session``, ``*_run``) of ``group``."""
    table, n_reps = assign_repetitions(staging.table(), max_reps)
    n_ch, n_t = len(staging.channels), len(staging.times)
    for split in SPLITS:
        rows = table[table.split == split]
        n_img, reps = n_images[split], n_reps[split]
        if len(rows) and int(rows["index"].max()) >= n_img:
            raise DataError(f"image index {int(rows['index'].max())} outside the {split} table")
        step = images_per_chunk(reps, n_ch, n_t, chunk_mb)
        arr = group.create_array(
            split,
            shape=(n_img, reps, n_ch, n_t),
            chunks=(step, reps, n_ch, n_t),
            dtype="float32",
            fill_value=np.nan,
        )
        for name in ("session", "run"):
            meta = np.full((n_img, reps), -1, dtype=np.int16)
            meta[rows["index"].to_numpy(), rows.rep.to_numpy()] = rows[name].to_numpy()
            group.create_array(f"{split}_{name}", shape=meta.shape, dtype="int16", fill_value=-1)[
                :
            ] = meta
        by_image = rows.sort_values(["index", "rep"])
        starts = np.searchsorted(by_image["index"].to_numpy(), np.arange(0, n_img + step, step))
        for k, start in enumerate(range(0, n_img, step)):
            stop = min(start + step, n_img)
            part = by_image.iloc[starts[k] : starts[k + 1]]
            buf = np.full((stop - start, reps, n_ch, n_t), np.nan, dtype=np.float32)
            if len(part):
                buf[part["index"].to_numpy() - start, part.rep.to_numpy()] = staging.gather(part)
            arr[start:stop] = buf
    return n_reps


@contextmanager
def atomic_store(path: Path) -> Iterator[tuple[zarr.Group, Path]]:
    """Yield (new empty Zarr group, staging folder); the group becomes the store ``path`` on success.

    Both live in ``path``'s folder; the staging folder is always removed, the unfinished group on
    error, so an interrupted job never leaves anything that looks like a finished store. On success
    the store is sealed (:func:`bergforge.store_checksums.seal_store`: ``checksums.json``, written
    last) before it is moved into place.
    """
    path = Path(path)
    with (
        atomic_folder(path) as building,
        scratch_folder(path) as staging,
    ):
        yield zarr.open_group(str(building), mode="w"), staging
        seal_store(building)


def write_attributes(group, attrs: dict[str, Any]) -> None:
    """Store JSON-ready group attributes (numpy values converted)."""
    group.attrs.update({k: _jsonable(v) for k, v in attrs.items()})


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
