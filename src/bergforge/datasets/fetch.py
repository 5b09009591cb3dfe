"""Jobs of the download rules: fetch catalogue files, fetch whole folders, unpack archives.

Single files go through :func:`bergforge.datasets.download.download` (``.part`` file, Range
resume, retries, SHA-256 against the published digest or the source's checksum lock, atomic
move). Folders (a MEG subject's raw runs, unpacked image sets) are assembled under
``<final>.partial`` — kept across failed runs, so transfers resume — and renamed into place only
when complete, so no final path ever holds half a dataset. Files spread over a dataset's own tree
(a BOLD5000 subject's runs) are gathered the same way and moved to their places together, and a
manifest written last says that the set is complete.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from bergforge.atomic import atomic_file, atomic_folder, scratch_folder
from bergforge.datasets import bold5000 as b5
from bergforge.datasets.download import (
    ChecksumLock,
    DownloadError,
    download,
    extract_zip,
    sha256sum,
)
from bergforge.datasets.sources import RemoteFile, lock_file
from bergforge.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class SharedChecksumLock(ChecksumLock):
    """A :class:`ChecksumLock` whose read-modify-write is serialised across processes."""

    def record(self, key: str, digest: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lck"), "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            super().record(key, digest)


def fetch_file(
    file: RemoteFile,
    base_urls: dict[str, str],
    dest: Path,
    *,
    checksum_dir: Path = Path("."),
    retries: int = 5,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path | None:
    """Download one catalogue file to ``dest``; ``None`` if it is optional and absent (404)."""
    lock = SharedChecksumLock(Path(checksum_dir) / lock_file(file.source))
    try:
        return download(
            file.url(base_urls),
            dest,
            sha256=file.sha256,
            lock=lock,
            lock_key=file.remote,
            retries=retries,
            backoff=backoff,
            progress=progress,
        )
    except DownloadError as err:
        if file.optional and "HTTP 404" in str(err):
            log.info("optional file absent, skipped: %s", err)
            return None
        raise


@contextmanager
def assembling(final: Path) -> Iterator[Path]:
    """Build a folder under ``<final>.partial`` and rename it to ``final`` on success.

    The partial folder is kept when the body fails, so a rerun resumes where it stopped; that is
    why this is not :func:`bergforge.atomic.atomic_folder`, which throws a failed folder away."""
    final = Path(final)
    partial = final.with_name(final.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    yield partial
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)


def fetch_tree(files: list[RemoteFile], base_urls: dict[str, str], final: Path, **kw) -> None:
    """Download ``files`` (local paths relative to ``final``) and move the folder into place."""
    with assembling(final) as partial:
        for file in files:
            dest = partial / file.local
            if dest.exists():  # finished by an earlier, interrupted run
                continue
            fetch_file(file, base_urls, dest, **kw)


MANIFEST_COLUMNS = ("path", "bytes", "sha256")


def _adopt(placed: Path, dest: Path, file: RemoteFile, lock: ChecksumLock) -> bool:
    """Move ``placed`` (a file an earlier run put in the tree) to ``dest`` if it matches the
    digest on record (or none is recorded yet: it is recorded); a mismatch is removed."""
    digest = sha256sum(placed)
    expected = file.sha256 or lock.get(file.remote)
    if expected and digest != expected:
        log.warning("%s: SHA-256 %s, not the expected %s; fetched again", placed, digest, expected)
        placed.unlink()
        return False
    if not expected:
        lock.record(file.remote, digest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(placed, dest)
    return True


def fetch_in_place(
    files: list[RemoteFile],
    base_urls: dict[str, str],
    root: Path,
    manifest: Path,
    *,
    checksum_dir: Path = Path("."),
    expected_bytes: float | None = None,
    **kw,
) -> Path:
    """Download ``files`` to their local paths under ``root``; write ``manifest`` last.

    Files are gathered under ``<manifest stem>.partial/`` (kept across failed runs, so a rerun
    resumes; a file an earlier run already moved under ``root`` is taken back after its digest is
    checked, not fetched again), moved to their places under ``root`` when all arrived, and only
    then is ``manifest`` written (tab-separated :data:`MANIFEST_COLUMNS`, one row per file).
    Progress: a bar per file and a log line per file with the bytes so far (of
    ``expected_bytes``, an estimate, when given)."""
    root, manifest = Path(root), Path(manifest)
    partial = manifest.with_name(manifest.stem + ".partial")
    locks: dict[str, ChecksumLock] = {}

    def lock_of(file: RemoteFile) -> ChecksumLock:
        if file.source not in locks:
            locks[file.source] = SharedChecksumLock(Path(checksum_dir) / lock_file(file.source))
        return locks[file.source]

    arrived: list[RemoteFile] = []
    total = 0
    of = f" of ≈{expected_bytes / 1e9:.1f} GB" if expected_bytes else ""
    for k, file in enumerate(files, 1):
        dest, placed = partial / file.local, root / file.local
        action = "present"
        if not dest.exists() and placed.is_file() and _adopt(placed, dest, file, lock_of(file)):
            action = "kept"
        if not dest.exists():
            if fetch_file(file, base_urls, dest, checksum_dir=checksum_dir, **kw) is None:
                continue  # optional and absent upstream
            action = "fetched"
        arrived.append(file)
        total += dest.stat().st_size
        log.info(
            "[%d/%d] %s %s (%.3f GB%s so far)", k, len(files), action, file.local, total / 1e9, of
        )
    rows = []
    for file in arrived:
        dest = partial / file.local
        digest = file.sha256 or lock_of(file).get(file.remote) or sha256sum(dest)
        rows.append(f"{file.local}\t{dest.stat().st_size}\t{digest}\n")
    for file in arrived:
        (root / file.local).parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial / file.local, root / file.local)
    with atomic_file(manifest) as tmp:
        tmp.write_text("\t".join(MANIFEST_COLUMNS) + "\n" + "".join(rows))
    shutil.rmtree(partial)
    log.info(
        "%d files (%.3f GB) in place under %s; manifest %s", len(rows), total / 1e9, root, manifest
    )
    return manifest


# ------------------------------------------------------------------------------ THINGS images


def things_password(path: Path) -> str:
    """The zip password from THINGS' ``password_images.txt`` (its last word)."""
    words = Path(path).read_text().split()
    if not words:
        raise DataError(f"{path}: empty; expected the THINGS image password")
    return words[-1]


def _basename_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in root.rglob("*"):
        if path.is_file():
            index.setdefault(path.name.lower(), path)
    return index


def things_meg_image_table(sample_attributes: list[Path], images_dir: Path) -> pd.DataFrame:
    """``image_paths.tsv`` (image_nr, split, concept, path) from the subjects' sample attributes.

    ``image_nr`` is ``things_image_nr`` (the events' ``value``); ``path`` is where the image of
    the attributes' ``image_path`` lies under ``images_dir`` (matched by file name)."""
    import numpy as np
    import pandas as pd

    frames = []
    for path in sample_attributes:
        meta = pd.read_csv(path)
        need = ["trial_type", "things_image_nr", "image_path"]
        missing = [c for c in need if c not in meta.columns]
        if missing:
            raise DataError(f"{path}: lacks column(s) {missing}; expected {need}")
        frames.append(meta.loc[meta.trial_type.isin(["exp", "test"]), need])
    rows = pd.concat(frames).drop_duplicates()
    clash = rows.things_image_nr[rows.things_image_nr.duplicated()]
    if len(clash):
        raise DataError(
            f"{sample_attributes}: image number(s) {sorted(set(clash))[:5]} have two image_path "
            "or trial_type values"
        )
    index = _basename_index(images_dir)
    paths, missing_files = [], []
    for image_path in rows.image_path:
        found = index.get(Path(str(image_path)).name.lower())
        if found is None:
            missing_files.append(str(image_path))
        paths.append(found.relative_to(images_dir).as_posix() if found else "")
    if missing_files:
        raise DataError(
            f"{len(missing_files)} image(s) of the sample attributes are not in the THINGS "
            f"image zips under {images_dir}, e.g. {missing_files[:3]}"
        )
    return pd.DataFrame(
        {
            "image_nr": rows.things_image_nr.astype(int).to_numpy(),
            "split": np.where(rows.trial_type == "exp", "train", "test"),
            "concept": [Path(str(p)).stem.rsplit("_", 1)[0] for p in rows.image_path],
            "path": paths,
        }
    ).sort_values("image_nr")


def unpack_things_meg_images(
    zips: list[Path], password_file: Path, sample_attributes: list[Path], final: Path
) -> None:
    """Unpack the THINGS image zips into ``images/`` and write ``images/image_paths.tsv``."""
    password = things_password(password_file)
    with assembling(final) as partial:
        for archive in zips:
            extract_zip(archive, partial, password=password)
        table = things_meg_image_table(sample_attributes, partial)
        table.to_csv(partial / "image_paths.tsv", sep="\t", index=False)
        log.info("THINGS images: %d training/test images indexed", len(table))


# -------------------------------------------------------------------------------- THINGS-EEG2


def _only_child(folder: Path, name: str) -> Path:
    """``folder/name`` if the archive wrapped its content in that folder, else ``folder``."""
    inner = folder / name
    return inner if inner.is_dir() else folder


def unpack_eeg_subject(archive: Path, subject: int, final: Path) -> None:
    """``sub-XX.zip`` → ``raw_data/sub-XX/ses-YY/raw_eeg_{training,test}.npy``."""
    label = f"sub-{subject:02d}"
    with assembling(final) as partial:
        staging = partial.with_name(partial.name + ".zip")
        shutil.rmtree(staging, ignore_errors=True)
        extract_zip(archive, staging)
        root = _only_child(staging, label)
        for item in sorted(root.iterdir()):
            os.replace(item, partial / item.name)
        shutil.rmtree(staging)
        if not (partial / "ses-01").is_dir():
            raise DataError(f"{archive}: expected {label}/ses-01/… inside the archive")


def unpack_eeg_image_set(archive: Path, final: Path) -> None:
    """The y63gw zip → ``image_set/{training_images,test_images}/…`` + ``image_metadata.npy``."""
    with assembling(final) as partial:
        staging = partial.with_name(partial.name + ".zip")
        shutil.rmtree(staging, ignore_errors=True)
        extract_zip(archive, staging)
        found = {p.name: p for p in staging.rglob("*") if p.is_file()}
        for name in ("training_images.zip", "test_images.zip", "image_metadata.npy"):
            if name not in found:
                raise DataError(f"{archive}: expected {name} inside the archive")
        for name in ("training_images.zip", "test_images.zip"):
            extract_zip(found[name], partial)
        os.replace(found["image_metadata.npy"], partial / "image_metadata.npy")
        shutil.rmtree(staging)
        for folder in ("training_images", "test_images"):
            if not (partial / folder).is_dir():
                raise DataError(f"{archive}: the inner zips hold no {folder}/ folder")


# ----------------------------------------------------------------------------------- BOLD5000

#: What the decoding route reads of ``BOLD5000_Stimuli.zip`` (paths below its top folder): the
#: presented images, the list of repeated (test) images and the image labels
BOLD5000_STIMULUS_PATHS = (
    "Scene_Stimuli/Presented_Stimuli/",
    b5.REPEATED_LIST.relative_to(b5.STIMULI.parent).as_posix(),
    "Image_Labels/",
)


def _bold5000_member(name: str) -> bool:
    """Whether a zip entry is one the route reads (macOS ``__MACOSX`` copies never are)."""
    parts = PurePosixPath(name).parts
    if "__MACOSX" in parts:
        return False
    if parts[:1] == b5.STIMULI.parent.parts:  # the zip's top folder, if it has one
        parts = parts[1:]
    return "/".join(parts).startswith(BOLD5000_STIMULUS_PATHS)


def check_bold5000_stimuli(root: Path, where: Path | str | None = None) -> int:
    """Check the stimulus tree under ``root`` (``BOLD5000_Stimuli/…``): the list of repeated
    images reads and every image it names is among the presented images; errors name ``where``
    (default ``root``). Returns the number of presented images."""
    root = Path(root)
    where = where or root
    presented = b5.STIMULI / "Presented_Stimuli"
    folders = sorted(b5.IMAGE_FOLDERS.values())
    names = {
        p.name
        for f in folders
        if (root / presented / f).is_dir()
        for p in (root / presented / f).iterdir()
    }
    if not names:
        raise DataError(f"{where}: no images in {presented}/; expected the folders {folders}")
    try:
        repeated = b5.read_repeated(root)
    except DataError as err:
        raise DataError(f"{where}: {err}") from err
    missing = sorted(repeated - names)
    if missing:
        raise DataError(
            f"{where}: {b5.REPEATED_LIST} names {len(missing)} image(s) that are not in "
            f"{presented}/{{{','.join(folders)}}}, e.g. {missing[:3]}"
        )
    return len(names)


def unpack_bold5000_stimuli(archive: Path, final: Path) -> None:
    """``BOLD5000_Stimuli.zip`` → ``final`` (``…/BOLD5000_Stimuli``): the presented images, the
    list of repeated (test) images and the image labels; the zip's other folders (original
    images, presentation lists) are not unpacked. Checked by :func:`check_bold5000_stimuli`
    before ``final`` appears (whole, or not at all: nothing here is worth resuming)."""
    top = b5.STIMULI.parts[0]
    with atomic_folder(final) as building, scratch_folder(final) as scratch:
        unpacked = scratch / "unpacked"
        extract_zip(archive, unpacked, select=_bold5000_member)
        if not (unpacked / top).is_dir():  # a zip without the top folder
            (scratch / "wrapped").mkdir()
            os.replace(unpacked, scratch / "wrapped" / top)
            unpacked = scratch / "wrapped"
        if not (unpacked / b5.STIMULI / "Presented_Stimuli").is_dir():
            raise DataError(
                f"{archive}: expected {b5.STIMULI.parts[1]}/Presented_Stimuli/ inside the archive"
            )
        count = check_bold5000_stimuli(unpacked, archive)
        for item in sorted((unpacked / top).iterdir()):
            os.replace(item, building / item.name)
    log.info("BOLD5000 stimuli: %d presented images in %s", count, final)
