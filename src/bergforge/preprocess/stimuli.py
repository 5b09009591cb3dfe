"""``stimuli.tsv`` of a prepared dataset: one row per image, train then test, in array order.

Both the stimuli rule and every subject job build the table with :func:`stimulus_table`, so the
rows of ``stimuli.tsv`` and of the ``train``/``test`` arrays always agree.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

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
    """Write ``stimuli.tsv`` (the :data:`COLUMNS`) atomically; returns the full table."""
    table = stimulus_table(fmt, raw_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    table[COLUMNS].to_csv(tmp, sep="\t", index=False)
    tmp.rename(out)
    return table
