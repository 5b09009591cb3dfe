"""Verified, resumable downloads and safe archive unpacking.

A download streams to ``<name>.part`` beside its destination with a progress bar, resumes an
interrupted transfer with an HTTP ``Range`` request, retries transient errors with exponential
backoff, verifies a SHA-256 (a published one, or the one recorded at first download in a checksum
lock file) and is moved into place only when verified. Written with the standard library because
no well-kept package does resume + verify + lock together.

The ``.part`` file is this module's own "write then rename", not :func:`bergforge.atomic.atomic_file`:
a failed transfer keeps its ``.part`` so the next run resumes it, where ``atomic_file`` throws a
failed write away. The checksum lock file is written through ``atomic_file``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from bergforge.atomic import atomic_file
from bergforge.errors import DataError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
USER_AGENT = "bergforge (https://github.com/bergforge; research data download)"


class DownloadError(DataError):
    """A download failed for good: the message names the URL and why."""


class ChecksumError(DownloadError):
    """A downloaded file's SHA-256 differs from the expected one."""


def sha256sum(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ChecksumLock:
    """A JSON file of ``{key: sha256}`` recorded at first download, verified on later downloads."""

    path: Path

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        with open(self.path) as fh:
            return json.load(fh)

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def record(self, key: str, digest: str) -> None:
        entries = self._read()
        entries[key] = digest
        with atomic_file(self.path) as tmp, open(tmp, "w") as fh:
            json.dump(dict(sorted(entries.items())), fh, indent=1)
            fh.write("\n")


def _is_transient(error: Exception) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return error.code in (408, 425, 429, 500, 502, 503, 504)
    return isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError, OSError))


def _fetch(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Append the rest of ``url`` to ``part`` (resuming from its size); raise on a short read."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # range not satisfiable: the part file is already complete
            return
        raise
    with response:
        if offset and response.status != 206:  # server ignored the range: start again
            offset = 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        received = 0
        with (
            open(part, "ab" if offset else "wb") as fh,
            tqdm(
                total=(expected + offset) if expected is not None else None,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while block := response.read(CHUNK):
                fh.write(block)
                received += len(block)
                bar.update(len(block))
        if expected is not None and received < expected:
            raise ConnectionError(f"transfer cut off after {offset + received} bytes")


def download(
    url: str,
    dest: Path | str,
    *,
    sha256: str | None = None,
    lock: ChecksumLock | None = None,
    lock_key: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` (resumable, retried, verified, atomic); returns ``dest``.

    The expected SHA-256 is ``sha256`` if given, else the entry ``lock_key`` (default: the URL) of
    ``lock``; with neither, the digest of the first complete download is recorded in ``lock``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    key = lock_key or url
    expected = sha256 or (lock.get(key) if lock else None)
    attempt = 0
    while True:
        try:
            _fetch(url, part, timeout, progress)
            digest = sha256sum(part)
            if expected and digest != expected:
                part.unlink()
                raise ChecksumError(
                    f"{url}: SHA-256 {digest} does not match the expected {expected}; "
                    "the file was discarded"
                )
            break
        except urllib.error.HTTPError as err:
            if not _is_transient(err) or attempt >= retries:
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
            reason = f"HTTP {err.code}"
        except ChecksumError as err:
            if attempt >= retries:
                raise
            reason = str(err)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
            if attempt >= retries:
                raise DownloadError(f"{url}: {err}") from None
            reason = str(err)
        attempt += 1
        wait = backoff * 2 ** (attempt - 1)
        log.warning("%s: %s; retry %d/%d in %.1f s", url, reason, attempt, retries, wait)
        time.sleep(wait)
    if lock is not None and not expected:
        lock.record(key, digest)
    os.replace(part, dest)
    log.info("downloaded %s -> %s (sha256 %s)", url, dest, digest)
    return dest


def _safe_member_path(target: Path, name: str) -> Path:
    """Where an archive member goes; refuses absolute paths and anything outside ``target``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DataError(f"archive entry {name!r} points outside the target folder; refused")
    return target / Path(*pure.parts) if pure.parts else target


def extract_zip(
    archive: Path | str,
    target: Path | str,
    password: str | bytes | None = None,
    select: Callable[[str], bool] | None = None,
) -> list[Path]:
    """Unpack a (possibly password-protected) zip safely into ``target``; returns the files.

    Every entry is checked before anything is written; files are written under a temporary folder
    beside ``target`` and moved in only when the whole archive unpacked. ``select`` (given an
    entry's name) keeps only the entries it accepts; the others are checked all the same.
    """
    archive, target = Path(archive), Path(target)
    pwd = password.encode() if isinstance(password, str) else password
    staging = target.with_name(target.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [(m, _safe_member_path(staging, m.filename)) for m in zf.infolist()]
            for member, path in members:
                if select is not None and not select(member.filename):
                    continue
                if member.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member, pwd=pwd) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
    except (zipfile.BadZipFile, RuntimeError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{archive}: cannot unpack ({err})") from None
    except DataError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _move_into(staging, target)


def extract_tar(archive: Path | str, target: Path | str) -> list[Path]:
    """Unpack a tar archive safely (no links, devices or paths outside ``target``)."""
    archive, target = Path(archive), Path(target)
    staging = target.with_name(target.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                _safe_member_path(staging, member.name)
            tf.extractall(staging, filter="data")
    except (tarfile.TarError, DataError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, DataError):
            raise
        raise DataError(f"{archive}: cannot unpack ({err})") from None
    return _move_into(staging, target)


def _move_into(staging: Path, target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            final = target / path.relative_to(staging)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
            moved.append(final)
    shutil.rmtree(staging, ignore_errors=True)
    return moved
