"""A store's checksum manifest, without Zarr: written last, checked by name, size and SHA-256.

``checksums.json`` inside a store lists the size and SHA-256 of every other file by path
(:func:`seal_store`); :func:`check_store` compares the files on disk with it by name and size.
Reading a store through its manifest (each file's bytes checked as Zarr reads them) is
:mod:`bergforge.store_manifest`'s, which imports Zarr; this half does not, so that what only
names, seals or lists checksums (the model folders' ``checksums.json``, Snakemake's parse of the
workflow) never loads Zarr.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bergforge.atomic import save_json
from bergforge.errors import DataError

#: The manifest's name, inside the store.
MANIFEST = "checksums.json"
#: What a store's manifest says it is (``format``) and its layout version.
FORMAT = "bergforge-store-checksums"
VERSION = 1
ALGORITHM = "sha256"
#: What every store error ends with.
ADVICE = "the store is damaged: delete it and rerun the job that writes it"

#: path in the store → (size in bytes, SHA-256 hex digest)
Checksums = dict[str, tuple[int, str]]


def list_files(path: Path) -> list[str]:
    """Every file under ``path`` but the manifest and hidden files, as store keys (``a/c/0/1``).

    Hidden files are not the store's: Snakemake marks a folder output with
    ``.snakemake_timestamp``, file browsers add theirs. Zarr never reads them, and if it did,
    :class:`~bergforge.store_manifest.VerifiedStore` would refuse them as unlisted.
    """
    keys = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(folder).relative_to(path)
        keys.extend((rel / name).as_posix() for name in names if not name.startswith("."))
    return sorted(k for k in keys if k != MANIFEST)


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 16 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(16 * 2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def seal_store(path: Path | str) -> Path:
    """Write ``checksums.json`` listing every file of the complete store ``path``; returns it.

    Call it once the store is complete and before it is moved into place: every writer of a Zarr
    store does (the prepared store's :func:`~bergforge.preprocess.store.atomic_store`, the feature
    shards' :func:`~bergforge.features.writer.write_shard`); a store written by hand (tests,
    benchmarks) calls it when done. Same files → same bytes.
    """
    path = Path(path)
    files = {
        key: {"bytes": (path / key).stat().st_size, ALGORITHM: sha256_file(path / key)}
        for key in list_files(path)
    }
    out = path / MANIFEST
    save_json(out, {"format": FORMAT, "version": VERSION, "algorithm": ALGORITHM, "files": files})
    return out


def find_stores(path: Path | str) -> list[Path]:
    """``path`` if it is a Zarr store, else every ``*.zarr`` store under it (hidden ones skipped)."""
    path = Path(path)
    if (path / "zarr.json").is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*.zarr")
        if (p / "zarr.json").is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def file_kind(key: str) -> str:
    return "metadata file" if key.rsplit("/", 1)[-1] == "zarr.json" else "chunk"


def damaged(label: str, key: str, what: str) -> DataError:
    return DataError(f"{label}: {file_kind(key)} {key} {what}; {ADVICE}")


#: what :func:`parse_manifest` raises for a manifest that is not one
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


def read_checksums(path: Path, label: str) -> Checksums:
    """The manifest of the store ``path``; :class:`DataError` if it is missing or unreadable."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise DataError(
            f"{label}: no {MANIFEST}, so the store is incomplete (its manifest is written last) "
            "or was written by a bergforge without checksums; delete it and rerun the job that "
            "writes it (or, for a complete store of an earlier version that you trust, add its "
            "checksums with `bergforge seal-stores`)"
        )
    try:
        return parse_manifest(manifest)
    except UNREADABLE as err:
        raise DataError(f"{label}: {MANIFEST} is unreadable ({err}); {ADVICE}") from err


def parse_manifest(manifest: Path) -> Checksums:
    """The files a manifest lists (stores' and model folders' alike); one of :data:`UNREADABLE`
    if it is not valid JSON of this format and algorithm."""
    payload = json.loads(manifest.read_bytes())
    if payload.get("format") != FORMAT or payload.get("algorithm") != ALGORITHM:
        raise ValueError(f"expected format {FORMAT!r} with algorithm {ALGORITHM!r}")
    return {
        str(key): (int(entry["bytes"]), str(entry[ALGORITHM]))
        for key, entry in payload["files"].items()
    }


def check_store(path: Path | str, label: str) -> Checksums:
    """Check the store's files against its manifest by name and size; returns the manifest.

    One :class:`DataError` naming the store and the first missing, unlisted or wrong-sized file.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{label}: not found")
    listed = read_checksums(path, label)
    present = list_files(path)
    missing = sorted(set(listed) - set(present))
    if missing:
        more = f" (and {len(missing) - 1} more files)" if len(missing) > 1 else ""
        raise damaged(label, missing[0], f"is missing{more}")
    for key in present:
        if key not in listed:
            raise damaged(label, key, f"is not listed in {MANIFEST}")
        size = (path / key).stat().st_size
        if size != listed[key][0]:
            raise damaged(label, key, f"has {size} bytes; {MANIFEST} lists {listed[key][0]}")
    return listed
