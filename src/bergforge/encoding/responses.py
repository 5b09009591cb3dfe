"""Reading the prepared response store (``results/prepared/{dataset}/sub-{subject}.zarr``).

Arrays are ``[image, repetition, *targets]`` chunked along images; they are streamed in
chunk-aligned batches of images, the selected repetitions averaged (NaN = missing repetition) and
the targets flattened (channel-major for ``[channel, time]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from bergforge.errors import DataError

#: read about this many bytes of responses at a time (rounded to whole chunks)
BATCH_BYTES = 256 * 2**20


class PreparedResponses:
    """One subject's prepared store, opened read-only."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not (self.path / "zarr.json").is_file():
            raise DataError(f"prepared store {self.path} not found or incomplete (no zarr.json)")
        self.group = zarr.open_group(str(self.path), mode="r")
        for name in ("train", "test"):
            if name not in self.group:
                raise DataError(f"prepared store {self.path} has no {name!r} array")
        self.attrs: dict[str, Any] = dict(self.group.attrs)
        shapes = {self.group[n].shape[2:] for n in ("train", "test")}
        if len(shapes) != 1:
            raise DataError(f"prepared store {self.path}: train and test targets differ {shapes}")
        self.target_shape: tuple[int, ...] = tuple(int(s) for s in shapes.pop())

    @property
    def modality(self) -> str:
        return str(self.attrs.get("modality", "meg"))

    @property
    def subject(self) -> int:
        return int(self.attrs.get("subject", 0))

    @property
    def n_targets(self) -> int:
        return int(np.prod(self.target_shape))

    def shape(self, split: str) -> tuple[int, int]:
        """(n_images, n_repetitions) of ``train`` or ``test``."""
        arr = self.group[split]
        return int(arr.shape[0]), int(arr.shape[1])

    def present(self, split: str) -> np.ndarray:
        """Boolean ``[image, repetition]``: which repetitions hold data."""
        name = f"{split}_session"
        if name in self.group:
            return np.asarray(self.group[name][:]) >= 0
        arr = self.group[split]
        first = (slice(None), slice(None)) + (0,) * (arr.ndim - 2)
        return ~np.isnan(np.asarray(arr[first]))

    def batches(
        self, split: str, images: np.ndarray, repetitions: np.ndarray
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions, y)``: positions into ``images`` and their mean response (m × T).

        ``images`` must be sorted; every image needs at least one present repetition.
        """
        arr = self.group[split]
        chunk = int(arr.chunks[0])
        per_image = self.n_targets * int(arr.shape[1]) * 4
        step = chunk * max(1, BATCH_BYTES // max(1, per_image * chunk))
        bounds = np.searchsorted(images, np.arange(0, arr.shape[0] + step, step))
        for k in range(len(bounds) - 1):
            lo, hi = int(bounds[k]), int(bounds[k + 1])
            if lo == hi:
                continue
            wanted = images[lo:hi]
            block = np.asarray(arr[int(wanted[0]) : int(wanted[-1]) + 1])
            block = block[wanted - wanted[0]][:, repetitions].reshape(hi - lo, len(repetitions), -1)
            if np.isinf(block).any():
                raise DataError(f"{self.path}/{split} contains infinite values; expected finite")
            with np.errstate(invalid="ignore"):
                y = np.nanmean(block, axis=1, dtype=np.float64)
            if np.isnan(y).any():
                img = int(wanted[np.isnan(y).any(axis=1)][0])
                raise DataError(
                    f"{self.path}/{split}: image {img} has NaN responses in a present repetition; "
                    "expected finite values (NaN only for whole missing repetitions)"
                )
            yield np.arange(lo, hi), y
