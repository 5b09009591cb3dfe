"""``stimuli.tsv`` of a prepared dataset: one row per image, train then test, in array order.

The one writer (:func:`write_stimuli_table`) and the one reader (:func:`read_stimuli`) of the
contract (``docs/interfaces.md``); no other module opens the file. For MEG/EEG the stimuli rule and
every subject job build the table with :func:`stimulus_table`, so the rows of ``stimuli.tsv`` and
of the ``train``/``test`` arrays always agree; fMRI formats build it from the trials of every
subject (:func:`bergforge.preprocess.fmri.stimulus_rows`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from bergforge.atomic import atomic_file
from bergforge.datasets import things_eeg2, things_meg
from bergforge.errors import ConfigError, DataError

COLUMNS = ["image_id", "split", "index", "concept", "file"]
READERS = {"things_meg1": things_meg.image_table, "things_eeg2": things_eeg2.image_table}


def stimulus_table(fmt: str, raw_dir: Path) -> pd.DataFrame:
    """The stimuli of a dataset in array order, with the dataset's own image ``code``.

    Columns: :data:`COLUMNS` plus ``code`` (THINGS image number for MEG, condition code for EEG),
    which maps events to rows; ``file`` is ``raw_dir``/path as given (relative to the run's
    working directory when ``raw_dir`` is)."""
    if fmt not in READERS:
        raise ConfigError(
            f"no stimulus reader for format {fmt!r}; expected one of {sorted(READERS)}"
        )
    images = READERS[fmt](Path(raw_dir))
    parts = []
    for split in ("train", "test"):
        part = images[images.split == split].reset_index(drop=True)
        part.insert(2, "index", range(len(part)))
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table["file"] = [os.path.join(str(raw_dir), p) for p in table.path]
    duplicated = table.image_id[table.image_id.duplicated()]
    if len(duplicated):
        raise DataError(f"{raw_dir}: image ids are not unique: {sorted(set(duplicated))[:5]}")
    return table[[*COLUMNS, "code"]]


def write_stimuli(fmt: str, raw_dir: Path, out: Path) -> pd.DataFrame:
    """Write ``stimuli.tsv`` (the :data:`COLUMNS`) of a MEG/EEG dataset; returns the full table."""
    table = stimulus_table(fmt, raw_dir)
    write_stimuli_table(table[COLUMNS], out)
    return table


def write_stimuli_table(table: pd.DataFrame, out: Path | str) -> None:
    """The one writer of ``stimuli.tsv``: ``table``'s columns as given (the :data:`COLUMNS` first,
    then format-specific ones such as fMRI's ``image_73k_id``), tab-separated, atomically."""
    columns = list(table.columns)
    if columns[: len(COLUMNS)] != COLUMNS:
        raise DataError(f"stimulus table for {out}: columns {columns}; expected {COLUMNS} first")
    with atomic_file(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False)


def read_stimuli(path: Path | str) -> pd.DataFrame:
    """The one reader of ``stimuli.tsv``: every column as written (ids, concepts and files as
    strings, empty cells as ``""``); a missing column, empty table or repeated id is an error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"stimulus table {path} not found")
    table = pd.read_csv(
        path,
        sep="\t",
        dtype={"image_id": str, "concept": str, "file": str},
        keep_default_na=False,
    )
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"stimulus table {path} lacks column(s) {missing}; expected {COLUMNS}")
    if table.empty:
        raise DataError(f"stimulus table {path} has no rows; expected one row per image")
    duplicated = table["image_id"][table["image_id"].duplicated()]
    if not duplicated.empty:
        raise DataError(f"stimulus table {path}: image_id {duplicated.iloc[0]!r} is repeated")
    return table


def stimuli_sha256(path: Path | str) -> str:
    """SHA-256 of the bytes of ``stimuli.tsv`` (recorded in the feature shard plan)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
