"""SHA-256 manifest check: weight files are pickles, so verify them before unpickling.

A release and the export tree ``results/berg`` carry ``SHA256SUMS`` (``sha256sum`` format:
``<hex>  <path>``, paths relative to the tree's root, optionally with ``*`` or ``./``), written by
:func:`write_manifest`. When it exists, a file must be listed with a matching digest or the loader
refuses it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from bergforge.atomic import save_text
from bergforge.errors import DataError, ModelLoadError
from bergforge.safe_pickle import UnsafePickleError, load_npy_item

MANIFEST_NAME = "SHA256SUMS"
log = logging.getLogger(__name__)


def read_manifest(path: Path) -> dict[str, str]:
    """Map of relative path to hex digest of a ``sha256sum`` file."""
    digests = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition(" ")
        if not sep or len(digest) != 64:
            raise ModelLoadError(
                f"{path}:{number} is not a sha256sum line ('<64 hex digits>  <path>'): {line!r}"
            )
        name = name.lstrip(" ").removeprefix("*").removeprefix("./")
        digests[name] = digest.lower()
    return digests


def sha256_of(path: Path, block: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    with open(path, "rb") as fh:
        return sha256_of_stream(fh, block)


def sha256_of_stream(fh: BinaryIO, block: int = 1 << 22) -> str:
    """Hex SHA-256 of what is left to read in an open binary file, read in blocks."""
    h = hashlib.sha256()
    while chunk := fh.read(block):
        h.update(chunk)
    return h.hexdigest()


def write_manifest(root: Path | str, files: Iterable[Path | str] | None = None) -> Path:
    """Write ``root/SHA256SUMS`` (atomically) for ``files``, each a regular file under ``root``,
    or, without ``files``, for every other file under ``root``: one ``<hex>  <path>`` line per
    file, POSIX paths relative to ``root``, sorted. A model folder's own ``SHA256SUMS``
    (bergforge's layout) is one of those files, listed too."""
    root = Path(os.path.abspath(root))
    manifest = root / MANIFEST_NAME
    if files is None:
        chosen = [p for p in root.rglob("*") if p.is_file() and p != manifest]
    else:
        chosen = [Path(os.path.abspath(p)) for p in files]  # ".." resolved
        for path in chosen:
            if not path.is_relative_to(root) or path == manifest:
                raise DataError(f"{path}: not a file under {root} that {manifest} can list")
            if path.is_symlink() or not path.is_file():
                raise DataError(f"{path}: listed for {manifest} but not a regular file")
    names = sorted({p.relative_to(root).as_posix(): p for p in chosen}.items())
    save_text(manifest, "\n".join(f"{sha256_of(p)}  {name}" for name, p in names) + "\n")
    log.info("%s: %d files", manifest, len(names))
    return manifest


class ManifestGuard:
    """Verifies files under ``root`` against ``root/SHA256SUMS`` when that manifest exists."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        manifest = self.root / MANIFEST_NAME
        self.digests = read_manifest(manifest) if manifest.is_file() else None

    def verify(self, path: Path) -> None:
        """Raise :class:`ModelLoadError` if a manifest exists and ``path`` does not match it."""
        if self.digests is None:
            return
        resolved, root = Path(path).resolve(), self.root.resolve()
        if not resolved.is_relative_to(root):
            raise ModelLoadError(
                f"refusing to load {path}: it resolves to {resolved}, outside the tree {root} "
                f"that {MANIFEST_NAME} covers"
            )
        rel = resolved.relative_to(root).as_posix()
        if rel not in self.digests:
            raise ModelLoadError(
                f"refusing to load {rel}: it is not listed in {self.root / MANIFEST_NAME}"
            )
        actual = sha256_of(path)
        if actual != self.digests[rel]:
            raise ModelLoadError(
                f"refusing to load {rel}: its SHA-256 {actual} does not match the manifest "
                f"({self.digests[rel]}); the file is corrupt or was modified"
            )


def load_pickled_dict(path: Path, guard: ManifestGuard) -> dict:
    """Verify ``path`` against the manifest, then unpickle the dict it holds (a BERG ``.npy``)
    with the restricted unpickler (:mod:`bergforge.safe_pickle`): manifest or not, a pickle that
    names any other global is refused, with the file and the global named."""
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    guard.verify(path)
    try:
        value = load_npy_item(path)
    except UnsafePickleError as err:
        raise ModelLoadError(str(err)) from err
    except Exception as err:
        raise ModelLoadError(f"cannot read {path}: {err}") from err
    if not isinstance(value, dict):
        raise ModelLoadError(f"{path} holds a {type(value).__name__}; expected a pickled dict")
    return value
