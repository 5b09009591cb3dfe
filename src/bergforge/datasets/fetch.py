"""Jobs of the download rules: fetch catalogue files, fetch whole folders, unpack archives.

Single files go through :func:`bergforge.datasets.download.download` (``.part`` file, Range
resume, retries, SHA-256 against the published digest or the source's checksum lock, atomic
move). Folders (a MEG subject's raw runs, unpacked image sets) are assembled under
``<final>.partial`` — kept across failed runs, so transfers resume — and renamed into place only
when complete, so no final path ever holds half a dataset.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bergforge.datasets.download import ChecksumLock, DownloadError, download, extract_zip
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
