"""Reproducible releases of the model artifacts: manifest, provenance, deterministic archive, verify.

A release folder ``bergforge-models-<version>/`` holds the BERG export tree (with the exported
decoders under ``decoding_models/``), ``SHA256SUMS``
(``sha256sum`` format, every other file, sorted), and ``provenance.json``; beside it a ``.tar.gz``
with sorted entries, fixed mtimes, owners and modes, so two clean runs give identical bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from bergforge._version import __version__
from bergforge.atomic import atomic_file, atomic_folder
from bergforge.errors import BergforgeError
from bergforge.export.decoder_layout import DECODER_JSON
from bergforge.export.manifest import MANIFEST_NAME, sha256_of_stream, write_manifest
from bergforge.export.own_layout import MODEL_JSON as OWN_MODEL_JSON
from bergforge.export.own_layout import verify_folder
from bergforge.models.records import read_record

log = logging.getLogger(__name__)

#: Packages whose versions decide the bytes of the models; recorded in provenance.json.
KEY_PACKAGES = (
    "bergforge",
    "numpy",
    "scipy",
    "scikit-learn",
    "torch",
    "torchvision",
    "mne",
    "zarr",
    "dask",
    "pandas",
    "matplotlib",
    "pillow",
    "snakemake",
    "nibabel",
    "hcp-utils",
)
#: mtime given to every archive entry (2000-01-01T00:00:00Z): fixed, so archives are reproducible.
ARCHIVE_MTIME = 946684800


class ReleaseError(BergforgeError):
    """A release is incomplete or does not match its manifest."""


def release_name(version: str) -> str:
    """Folder (and archive stem) of a release."""
    return f"bergforge-models-{version}"


def source_commit(repo: Path) -> str:
    """The git commit of the source tree (with ``-dirty`` if it has changes), or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`KEY_PACKAGES` (missing ones as ``not installed``)."""
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(config: dict[str, Any], seeds: dict[str, Any], repo: Path) -> dict[str, Any]:
    """Everything needed to rebuild the release: config, versions, commit, seeds, platform.

    Holds no timestamps, host names or absolute paths, so clean runs agree byte for byte.
    """
    return {
        "bergforge_version": __version__,
        "source_commit": source_commit(repo),
        "config": config,
        "seeds": seeds,
        "packages": package_versions(),
        "platform": {
            "python": platform.python_version(),
            "implementation": sys.implementation.name,
            "system": platform.system(),
            "machine": platform.machine(),
        },
    }


def collect_seeds(files: Sequence[Path | str], models_dir: Path | str) -> dict[str, Any]:
    """The seeds recorded in exactly ``files``, keyed by model folder relative to ``models_dir``.

    A ``model.json`` (linear models, and other kinds' markers) carries them under ``seeds`` (``{}``
    for a kind without random draws); a CNN8 ``training.json`` under ``config.seed`` (the one seed
    every draw of its training derives from). Nothing else is read.
    """
    models_dir = Path(models_dir)
    seeds: dict[str, Any] = {}
    for path in map(Path, files):
        if not path.is_relative_to(models_dir):
            raise ReleaseError(f"{path}: seeds are read only from files under {models_dir}")
        record = read_record(path)
        if path.name == "training.json":
            found = {"training": record.get("config", {}).get("seed")}
        else:
            found = record.get("seeds")
        if not isinstance(found, dict) or None in found.values():
            raise ReleaseError(
                f"{path}: no seeds recorded (expected a model.json or training.json)"
            )
        seeds[path.parent.relative_to(models_dir).as_posix()] = found
    return dict(sorted(seeds.items()))


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = ARCHIVE_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_archive(root: Path, archive: Path) -> Path:
    """A deterministic ``.tar.gz`` of ``root`` (sorted entries, fixed mtimes/owners/modes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tf:
        entries = [root, *sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix())]
        for path in entries:
            arcname = Path(root.name) / path.relative_to(root)
            tf.add(path, arcname=arcname.as_posix(), recursive=False, filter=_tar_filter)
    with (
        atomic_file(archive) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
    ):
        gz.write(buffer.getvalue())
    return archive


def copy_listed(export_dir: Path, files: Sequence[Path | str], dest: Path) -> None:
    """Copy exactly ``files`` (each a file under ``export_dir``) to the same places under ``dest``.

    A model folder in bergforge's own layout is declared by its ``bergforge_model.json`` and
    ``SHA256SUMS`` (the export rule's outputs), an exported decoder by its
    ``bergforge_decoder.json`` and ``SHA256SUMS`` (rule ``export_decoder``); the files that
    manifest lists (weights, card) come with it, after the folder is verified against it."""
    for path in map(Path, files):
        if not path.is_relative_to(export_dir):
            raise ReleaseError(f"{path}: not under the export tree {export_dir}")
        if not path.is_file():
            raise ReleaseError(f"{path}: listed for the release but not a file")
        rel = path.relative_to(export_dir)
        _copy(path, dest / rel)
        if path.name == MANIFEST_NAME and any(
            (path.parent / name).is_file() for name in (OWN_MODEL_JSON, DECODER_JSON)
        ):
            for name in verify_folder(path.parent):
                _copy(path.parent / name, dest / rel.parent / name)


def _copy(path: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)


def build_release(
    export_dir: Path,
    files: Sequence[Path | str],
    out_dir: Path,
    version: str,
    config: dict[str, Any],
    seeds: dict[str, Any],
    repo: Path,
) -> tuple[Path, Path]:
    """Copy ``files`` of the export tree into a fresh release folder, add provenance + manifest,
    archive it.

    Only the listed files are released (never whatever else lies under ``export_dir``), so the
    folder and the archive hold exactly the files of ``SHA256SUMS`` plus the manifest itself.
    """
    export_dir, out_dir = Path(export_dir), Path(out_dir)
    name = release_name(version)
    final = out_dir / name
    with atomic_folder(final) as staging:
        copy_listed(export_dir, files, staging)
        with open(staging / "provenance.json", "w") as fh:
            json.dump(provenance(config, seeds, repo), fh, indent=1, sort_keys=True, default=str)
            fh.write("\n")
        write_manifest(staging)
    archive = write_archive(final, out_dir / f"{name}.tar.gz")
    log.info("release %s: %s and %s", version, final, archive)
    return final, archive


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_release`: files that differ, are missing, or are not listed."""

    checked: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.unlisted)


def _parse_manifest(text: str) -> dict[str, str]:
    entries = {}
    for line in text.splitlines():
        if line.strip():
            digest, _, name = line.partition("  ")
            entries[name.removeprefix("*").removeprefix("./")] = digest
    return entries


def verify_release(target: Path | str) -> VerifyReport:
    """Check every file of a release folder or ``.tar.gz`` against its ``SHA256SUMS``.

    Nothing is extracted and no link is followed: a folder holding a symbolic link or anything but
    regular files and folders, an archive with a link, a device, an absolute name, a ``..`` step
    or a name listed twice, and a truncated or corrupt archive are each refused with one
    :class:`ReleaseError` naming the entry, before any file is hashed."""
    target = Path(target)
    if target.is_dir():
        return _verify_folder(target)
    if target.is_file() and (target.name.endswith(ARCHIVE_SUFFIXES) or _is_tarfile(target)):
        return _verify_archive(target)
    raise ReleaseError(f"{target}: not a release folder or archive")


#: names of release archives (anything else must look like a tar file to be read as one)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def _is_tarfile(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (EOFError, OSError, zlib.error):
        return False


def _compare(expected: dict[str, str], digests: dict[str, str]) -> VerifyReport:
    report = VerifyReport(checked=len(expected))
    report.missing = sorted(n for n in expected if n not in digests)
    report.mismatched = sorted(n for n in expected if n in digests and digests[n] != expected[n])
    report.unlisted = sorted(set(digests) - set(expected))
    return report


def _verify_folder(folder: Path) -> VerifyReport:
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise ReleaseError(
                f"{folder}: refuses {rel!r}: a symbolic link to {os.readlink(path)!r} "
                "(a release holds only regular files and folders)"
            )
        if path.is_file():
            files[rel] = path
        elif not path.is_dir():
            raise ReleaseError(f"{folder}: refuses {rel!r}: not a regular file or folder")
    if MANIFEST_NAME not in files:
        raise ReleaseError(f"{folder}: no {MANIFEST_NAME} (expected a release folder)")
    digests, manifest_text = {}, ""
    for rel, path in files.items():
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))  # never a link
            with os.fdopen(fd, "rb") as fh:
                if rel == MANIFEST_NAME:
                    manifest_text = fh.read().decode()
                else:
                    digests[rel] = sha256_of_stream(fh)
        except (OSError, UnicodeDecodeError) as err:
            raise ReleaseError(f"{folder}: cannot read {rel!r} ({err})") from err
    return _compare(_parse_manifest(manifest_text), digests)


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` has no place in a release archive (None: a regular file or folder)."""
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        return f"a {kind} link to {member.linkname!r}"
    if not (member.isfile() or member.isdir()):
        return "not a regular file or folder"
    name = PurePosixPath(member.name)
    if name.is_absolute() or re.match(r"^[A-Za-z]:", member.name):
        return "an absolute path"
    if ".." in name.parts:
        return "a path that climbs out of the archive with '..'"
    return None


def _verify_archive(archive: Path) -> VerifyReport:
    digests: dict[str, str] = {}
    manifest_text = None
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()  # every header, before any file is read
            seen: set[str] = set()
            for member in members:
                problem = _member_problem(member)
                if problem is not None:
                    raise ReleaseError(
                        f"{archive}: refuses member {member.name!r}: {problem} "
                        "(a release holds only regular files and folders under its own folder)"
                    )
                if member.name in seen:
                    raise ReleaseError(f"{archive}: member {member.name!r} appears twice")
                seen.add(member.name)
            for member in members:
                if not member.isfile():
                    continue
                name = member.name.split("/", 1)[1] if "/" in member.name else member.name
                data = tf.extractfile(member)
                assert data is not None  # a regular file
                if name == MANIFEST_NAME:
                    manifest_text = data.read().decode()
                else:
                    digests[name] = sha256_of_stream(data)
    except (tarfile.TarError, EOFError, OSError, zlib.error, UnicodeDecodeError) as err:
        raise ReleaseError(
            f"{archive}: truncated or corrupt archive ({type(err).__name__}: {err})"
        ) from err
    if manifest_text is None:
        raise ReleaseError(f"{archive}: no {MANIFEST_NAME} inside (expected a release archive)")
    return _compare(_parse_manifest(manifest_text), digests)
