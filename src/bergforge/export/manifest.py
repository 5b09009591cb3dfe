"""SHA-256 manifest check: weight files are pickles, so verify them before unpickling.

A release carries ``SHA256SUMS`` (``sha256sum`` format: ``<hex>  <path>``, paths relative to the
release root, optionally with ``*`` or ``./``). When it exists, a file must be listed with a
matching digest or the loader refuses it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bergforge.errors import ModelLoadError

MANIFEST_NAME = "SHA256SUMS"


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
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


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
        rel = Path(path).resolve().relative_to(self.root.resolve()).as_posix()
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
    """Verify ``path`` against the manifest, then unpickle the dict it holds (a BERG ``.npy``)."""
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    guard.verify(path)
    try:
        value = np.load(path, allow_pickle=True)
        value = value.item() if isinstance(value, np.ndarray) and value.shape == () else value
    except Exception as err:
        raise ModelLoadError(f"cannot read {path}: {err}") from err
    if not isinstance(value, dict):
        raise ModelLoadError(f"{path} holds a {type(value).__name__}; expected a pickled dict")
    return value
