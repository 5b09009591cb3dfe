"""Atomic, byte-reproducible artifact files: every "write then rename" of bergforge goes through here.

- :func:`atomic_file`: yields a hidden temporary sibling ``.<name>.partial`` to write; renamed over
  the final path on success, removed on any error, so a reader never sees half a file.
- :func:`atomic_folder`: the same for a whole folder (``.<name>.building``, swapped in whole); the
  prepared stores, feature shards, GLMsingle outputs, own-layout model folders and releases use it.
- :func:`scratch_folder`: a hidden sibling ``.<name>.staging`` for a writer's intermediate files,
  always removed.
- :func:`save_npz`, :func:`save_json`, :func:`save_text`: the common file formats through
  :func:`atomic_file` (same arrays or payload → same bytes).

Temporaries are named after their target only (:func:`temporary_path`), never at random, so a job
killed mid-write (SIGKILL, power loss) leaves leftovers the next attempt at the same target finds and
removes (:func:`remove_stale_temporaries`, logged ``removed stale temporary …``); another target's
temporaries, e.g. of a job running beside it in the same folder, are never touched. A write that
fails for lack of room (disk full, ``ulimit -f``, quota) is re-raised as one
:class:`~bergforge.errors.WriteError` naming the target.

Not here: resumable downloads (:mod:`bergforge.datasets.download`, ``.part`` files resumed with
HTTP Range; :mod:`bergforge.datasets.fetch`, ``.partial`` folders kept across failed runs). Those
keep their partial file on failure on purpose, so the next run continues the transfer; a file
written here is thrown away on failure instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError, WriteError, out_of_room

log = logging.getLogger(__name__)

#: np.savez stamps the current time into the zip; a fixed stamp keeps the bytes reproducible
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

#: The kinds of hidden temporary ``.<name>.<kind>`` the writers here make beside a target ``<name>``:
#: :func:`atomic_file`'s file, :func:`atomic_folder`'s new and previous folder, :func:`scratch_folder`.
TEMPORARY_KINDS = ("partial", "building", "old", "staging")


def temporary_path(path: Path | str, kind: str) -> Path:
    """The hidden temporary sibling ``.<name>.<kind>`` of ``path`` (a kind of TEMPORARY_KINDS).

    Fixed, not random: an attempt finds its own target's leftovers, and some formats' bytes
    depend on the name (``torch.save`` names its zip folder after the file it writes).
    """
    if kind not in TEMPORARY_KINDS:
        raise ValueError(f"temporary kind {kind!r}; expected one of {TEMPORARY_KINDS}")
    path = Path(path)
    return path.with_name(f".{path.name}.{kind}")


def partial_path(path: Path) -> Path:
    """The temporary sibling :func:`atomic_file` writes: ``.<name>.partial``."""
    return temporary_path(path, "partial")


def remove_stale_temporaries(
    path: Path | str, kinds: tuple[str, ...] = TEMPORARY_KINDS
) -> list[Path]:
    """Remove the temporaries of ``path`` an earlier, killed attempt left (each one logged).

    Only ``path``'s own temporaries (:func:`temporary_path`) are looked at; returns those removed.
    """
    removed = []
    for kind in kinds:
        tmp = temporary_path(path, kind)
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        elif tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        else:
            continue
        log.info("removed stale temporary %s (left by an earlier attempt at %s)", tmp, path)
        removed.append(tmp)
    return removed


@contextmanager
def naming_full_disk(target: Path | str) -> Iterator[None]:
    """Re-raise a write that failed for lack of room as one :class:`WriteError` naming ``target``."""
    try:
        yield
    except WriteError:
        raise
    except OSError as err:
        if out_of_room(err):
            raise WriteError(target, err) from err
        raise


@contextmanager
def atomic_file(path: Path | str) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it replaces ``path``.

    The parent folder is created, a stale temporary of ``path`` removed. On any error the
    temporary file is removed and ``path`` is left as it was (absent, or the previous version);
    a full disk is a :class:`WriteError` naming ``path``. Writers that add a suffix to a name they
    are given (``np.savez``) must write to an open file handle instead of the yielded path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    remove_stale_temporaries(path, ("partial",))
    try:
        with naming_full_disk(path):
            yield tmp
            if not tmp.is_file():
                raise FileNotFoundError(f"{tmp}: nothing was written for {path}")
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_npz(path: Path, **arrays: Any) -> None:
    """Write an uncompressed ``.npz`` (no pickles) atomically; same arrays → same bytes."""
    with (
        atomic_file(path) as tmp,
        zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf,
    ):
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_ZIP_TIME)
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(value), allow_pickle=False)


def load_npz(path: Path, required: list[str]) -> dict[str, np.ndarray]:
    """Read an ``.npz`` without pickles; :class:`DataError` if it is missing keys or damaged.

    The zip holds a CRC-32 of every member, checked as the member is read: flipped or missing
    bytes are one error naming the file, never arrays with wrong values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        raise DataError(
            f"{path}: damaged or not an .npz file ({err}); delete it and rerun the job that "
            "writes it"
        ) from err
    missing = [k for k in required if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing arrays {missing}; expected {required}")
    return arrays


def save_json(path: Path, payload: dict[str, Any], sort_keys: bool = True) -> None:
    """Write indented JSON atomically (keys sorted unless ``sort_keys`` is False)."""
    with atomic_file(path) as tmp, open(tmp, "w") as fh:
        json.dump(payload, fh, indent=2, sort_keys=sort_keys)
        fh.write("\n")


def save_text(path: Path | str, text: str) -> None:
    """Write ``text`` atomically (``Path.write_text``'s encoding and newlines)."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``path`` to fill; on success it replaces ``path`` whole.

    Stale temporaries of ``path`` are removed first. On any error the sibling is removed and
    ``path`` is left as it was, so a reader never sees a half-written folder; a full disk (in any
    file written into the sibling, Zarr chunks included) is a :class:`WriteError` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    building, old = temporary_path(path, "building"), temporary_path(path, "old")
    remove_stale_temporaries(path, ("building", "old"))
    building.mkdir()
    try:
        with naming_full_disk(path):
            yield building
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if path.exists():
        os.replace(path, old)
    os.replace(building, path)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def scratch_folder(path: Path | str) -> Iterator[Path]:
    """Yield an empty hidden folder ``.<name>.staging`` beside ``path`` for a writer's intermediate
    files; it is always removed afterwards (a stale one of an earlier attempt first)."""
    folder = temporary_path(path, "staging")
    remove_stale_temporaries(path, ("staging",))
    folder.mkdir(parents=True)
    try:
        with naming_full_disk(path):
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
