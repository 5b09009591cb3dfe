"""Where the images of a shard come from: files on disk, or rows of an NSD-style HDF5 brick.

Every source yields fully decoded RGB PIL images by position, so decoding, the backbone transform,
the forward pass and the shard writer stay one code path whatever the source. The stimulus table
decides: rows with a ``file`` are read from files; rows with an empty ``file`` and an
``image_73k_id`` are read from ``imgBrick`` of the dataset's ``nsd_stimuli.hdf5``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from PIL import Image

from bergforge.errors import DataError
from bergforge.features.errors import ImageError
from bergforge.features.images import load_rgb


@runtime_checkable
class ImageSource(Protocol):
    """An ordered set of images: ``len(source)`` of them, ``source.load(i)`` the i-th (RGB)."""

    def __len__(self) -> int: ...

    def load(self, index: int) -> Image.Image: ...

    def close(self) -> None: ...


class FileImages:
    """Images stored as files (JPEG, PNG, …), decoded with :func:`load_rgb`."""

    def __init__(self, files: Sequence[Path | str]) -> None:
        self.files = [Path(f) for f in files]

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> Image.Image:
        """The decoded RGB image of ``files[index]`` (an :class:`ImageError` names a bad file)."""
        return load_rgb(self.files[index])

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> FileImages:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NsdBrickImages:
    """Images of NSD's ``nsd_stimuli.hdf5`` (``imgBrick``, row = 73k id − 1), by 1-based 73k id.

    Every id is checked when the source is opened, so an unknown id fails before any forward pass.
    Reads are thread-safe (h5py serialises them); each image is read alone, so memory stays flat.
    """

    def __init__(self, path: Path | str, ids_73k: Sequence[int]) -> None:
        from bergforge.datasets.mosaic import NsdStimuli

        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(
                f"NSD images file {self.path} not found; expected nsd_stimuli.hdf5 with dataset "
                "'imgBrick' (73k id − 1 = row) for stimulus rows given by image_73k_id"
            )
        self.ids = np.asarray(ids_73k, dtype=np.int64)
        self._stimuli = NsdStimuli(self.path)
        n = len(self._stimuli)
        bad = self.ids[(self.ids < 1) | (self.ids > n)]
        if bad.size:
            self._stimuli.close()
            raise ImageError(
                f"image_73k_id {int(bad[0])} is not in {self.path}: its imgBrick holds ids 1…{n}"
            )

    def __len__(self) -> int:
        return int(self.ids.size)

    def load(self, index: int) -> Image.Image:
        """The RGB image of the ``index``-th id (uint8 pixels as stored, no re-encoding)."""
        pixels = self._stimuli.read([int(self.ids[index])])[0]
        return Image.fromarray(pixels)  # (H, W, 3) uint8 → RGB

    def close(self) -> None:
        """Close the HDF5 file."""
        self._stimuli.close()

    def __enter__(self) -> NsdBrickImages:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def as_source(images: ImageSource | Sequence[Path | str]) -> ImageSource:
    """``images`` itself when it is a source; a list of paths becomes :class:`FileImages`."""
    return images if isinstance(images, ImageSource) else FileImages(images)


def stimulus_images(
    rows: pd.DataFrame, base_dir: Path | str = ".", image_file: Path | str | None = None
) -> FileImages | NsdBrickImages:
    """The source of the stimulus-table rows ``rows``: their files, or ``image_file`` by 73k id.

    All rows must use the same kind: a ``file`` each, or (with ``image_file``) an empty ``file``
    and an ``image_73k_id`` each.
    """
    files = rows["file"].astype(str)
    has_file = (files != "") & (files != "nan")
    if has_file.all():
        return FileImages([Path(base_dir) / f for f in files])
    if image_file is None or "image_73k_id" not in rows.columns:
        first = rows["image_id"].to_numpy()[np.flatnonzero(~has_file.to_numpy())[0]]
        raise DataError(
            f"stimulus row {first!r} has no file; expected a file path, or an image_73k_id "
            "column with the dataset's nsd_stimuli.hdf5 as the image file"
        )
    if has_file.any():
        raise DataError(
            "stimulus rows mix files and image_73k_id images; expected one kind per table"
        )
    ids = pd.to_numeric(rows["image_73k_id"], errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        bad = rows["image_73k_id"].to_numpy()[np.flatnonzero(ids.isna() | (ids != ids.round()))[0]]
        raise DataError(f"image_73k_id {bad!r} is not an integer; expected 1-based NSD 73k ids")
    return NsdBrickImages(image_file, ids.astype(np.int64).to_numpy())
