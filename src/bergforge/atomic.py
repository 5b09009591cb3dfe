"""Atomic, byte-reproducible artifact files: npz/json written under a temporary name, then renamed;
whole folders built beside their final place and swapped in.

Every "write then rename" of bergforge goes through here or through a stage's own writer of a
folder store (feature shards, prepared stores), which renames a finished temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError

#: np.savez stamps the current time into the zip; a fixed stamp keeps the bytes reproducible
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def save_npz(path: Path, **arrays: Any) -> None:
    """Write an uncompressed ``.npz`` (no pickles) atomically; same arrays → same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_ZIP_TIME)
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(value), allow_pickle=False)
    os.replace(tmp, path)


def load_npz(path: Path, required: list[str]) -> dict[str, np.ndarray]:
    """Read an ``.npz`` without pickles; :class:`DataError` if it is missing keys."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    missing = [k for k in required if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing arrays {missing}; expected {required}")
    return arrays


def save_json(path: Path, payload: dict[str, Any], sort_keys: bool = True) -> None:
    """Write indented JSON atomically (keys sorted unless ``sort_keys`` is False)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=2, sort_keys=sort_keys)
        fh.write("\n")
    os.replace(tmp, path)


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``path`` to fill; on success it replaces ``path`` whole.

    On any error the sibling is removed and ``path`` is left as it was, so a reader never sees a
    half-written folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.building")
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        yield building
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(building, path)
    shutil.rmtree(old, ignore_errors=True)
