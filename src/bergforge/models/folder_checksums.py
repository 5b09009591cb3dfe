"""Checksummed model folders: ``checksums.json`` written after a kind's fit, checked on every read.

A model folder (``results/models/{dataset}/{model}/…``, one fit's files) is sealed by the fit job
once the kind has written its files: :func:`seal_model_folder` writes ``checksums.json`` (the
size and SHA-256 of every file, the same manifest format as the Zarr stores of
:mod:`bergforge.store_checksums`) last, and the fit rule declares it as an output, so Snakemake
treats a folder without it as unfinished.

Every reader of a model folder (evaluation, export, the kinds' own loaders) first calls
:func:`verify_model_folder`: the files must be exactly the listed ones, with the listed sizes and
hashes. A damaged file, a missing one, or a file swapped for another valid one of the same shape
(another split's ``regression.npz``) is one :class:`~bergforge.errors.DataError` naming the folder
and the file, never a model. A file is hashed once per process while it stays unchanged (same
inode, size and modification time), so evaluating the five splits of a subject and exporting them
costs one hash of each file.
"""

from __future__ import annotations

import os
from pathlib import Path

from bergforge.errors import DataError
from bergforge.store_checksums import (
    MANIFEST,
    UNREADABLE,
    list_files,
    parse_manifest,
    seal_store,
    sha256_file,
)

#: What every model-folder error ends with.
ADVICE = "delete the folder and rerun the fit that writes it"

#: file path → (inode, size, mtime_ns) when its hash last matched the manifest
_VERIFIED: dict[str, tuple[int, int, int]] = {}


def seal_model_folder(folder: Path | str) -> Path:
    """Write ``checksums.json`` of the complete model folder ``folder``; returns its path."""
    return seal_store(folder)


def _listed(folder: Path) -> dict[str, tuple[int, str]]:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise DataError(
            f"model folder {folder}: no {MANIFEST}, so its fit did not finish (the manifest is "
            "written last) or it was written by a bergforge without checksums; rerun its fit "
            "(Snakemake reruns it, as the file is one of the fit rule's outputs)"
        )
    try:
        return parse_manifest(manifest)
    except UNREADABLE as err:
        raise DataError(
            f"model folder {folder}: {MANIFEST} is unreadable ({err}); {ADVICE}"
        ) from err


def verify_model_folder(folder: Path | str) -> Path:
    """Check every file of a model folder against its ``checksums.json``; returns the folder.

    One :class:`DataError` naming the folder and the first missing, unlisted, wrong-sized or
    wrong-hash file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"model folder {folder} not found")
    listed = _listed(folder)
    present = list_files(folder)
    missing = sorted(set(listed) - set(present))
    if missing:
        raise DataError(f"model folder {folder}: file {missing[0]} is missing; {ADVICE}")
    for name in present:
        if name not in listed:
            raise DataError(
                f"model folder {folder}: file {name} is not listed in its {MANIFEST}; {ADVICE}"
            )
        path = folder / name
        stat = os.stat(path)
        size, digest = listed[name]
        if stat.st_size != size:
            raise DataError(
                f"model folder {folder}: file {name} has {stat.st_size} bytes, {MANIFEST} lists "
                f"{size} (damaged or swapped for another file); {ADVICE}"
            )
        identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        key = str(path.resolve())
        if _VERIFIED.get(key) == identity:
            continue
        if sha256_file(path) != digest:
            raise DataError(
                f"model folder {folder}: file {name} does not match its SHA-256 in {MANIFEST} "
                f"(damaged or swapped for another file); {ADVICE}"
            )
        _VERIFIED[key] = identity
    return folder
