"""The one reader of the prepared response store (``results/prepared/{dataset}/sub-{subject}.zarr``).

:class:`PreparedResponses` is the only code that opens a prepared store for reading (the writer is
:func:`bergforge.preprocess.store.atomic_store`); every other stage reads through its methods.
Arrays are ``[image, repetition, *targets]`` chunked along images; they are streamed in
chunk-aligned batches of images, the selected repetitions averaged (NaN = missing repetition) and
the targets flattened (channel-major for ``[channel, time]``). fMRI stores, whose ``train`` array
has a row for every image of the dataset, are read by a subject's own rows, one chunk at a time
(:mod:`bergforge.preprocess.own_rows`). Every file of the store is checked against its
``checksums.json`` when read (:func:`bergforge.store_manifest.open_verified_group`): a missing,
damaged or swapped chunk is a :class:`~bergforge.errors.DataError` naming the store and the chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError
from bergforge.preprocess import own_rows
from bergforge.store_manifest import open_verified_group

#: read about this many bytes of responses at a time (rounded to whole chunks)
BATCH_BYTES = 256 * 2**20


class PreparedResponses:
    """One subject's prepared store, opened read-only."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.group = open_verified_group(self.path, f"prepared store {self.path}")
        layout = self.group.attrs.get("layout", "images")
        if layout != "images":
            raise DataError(
                f"prepared store {self.path} has layout {layout!r} (trial-indexed: array data "
                "[trial, …] and a trial table); expected an image-indexed store (arrays train/test "
                "[image, repetition, …]). Read it with "
                "bergforge.preprocess.trial_responses.PreparedTrials"
            )
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

    def has(self, name: str) -> bool:
        """Whether the store holds the array ``name`` (``artificial``, ``train_session``, …)."""
        return name in self.group

    def read(self, name: str) -> np.ndarray:
        """The whole array ``name`` in memory."""
        if name not in self.group:
            raise DataError(f"prepared store {self.path} has no {name!r} array")
        return np.asarray(self.group[name][...])

    def recorded(self, split: str, what: str) -> np.ndarray | None:
        """``{split}_{what}`` (``what``: ``session`` or ``run``) ``[image, repetition]``, −1 where
        missing; None when the source does not record it."""
        name = f"{split}_{what}"
        return self.read(name) if name in self.group else None

    def chunks(self, split: str) -> Iterator[np.ndarray]:
        """``split`` one Zarr chunk of images at a time, in order (``[image, repetition, …]``)."""
        arr = self.group[split]
        step = max(1, int(arr.chunks[0]))
        for start in range(0, int(arr.shape[0]), step):
            yield np.asarray(arr[start : start + step])

    def own_blocks(self, split: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, values ``[n, repetition, vertex]``) of the rows the subject saw, chunk by chunk."""
        return own_rows.iter_seen_blocks(
            self.group[split], own_rows.candidate_rows(self.group, split)
        )

    def own_values(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows the subject saw and their ``[image, repetition, vertex]`` values."""
        return own_rows.seen_values(self.group, split)

    def own_means(self, split: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """Seen rows and their repetition means (n, vertices) float32, memory-mapped from ``path``."""
        return own_rows.averaged_targets(self.group, split, path)

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

        ``images`` must be sorted; every image needs at least one present repetition. The next
        block is read from disk on a background thread while the caller uses the current one.
        """
        arr = self.group[split]
        images = np.asarray(images)
        repetitions = np.asarray(repetitions)
        # from the small session array when there is one; otherwise from each block as it is read
        # (present() would take an extra pass over the whole store for that)
        sessions = f"{split}_session" in self.group
        present = self.present(split)[np.ix_(images, repetitions)] if sessions else None
        chunk = int(arr.chunks[0])
        per_image = self.n_targets * int(arr.shape[1]) * 4
        step = chunk * max(1, BATCH_BYTES // max(1, per_image * chunk))
        bounds = np.searchsorted(images, np.arange(0, arr.shape[0] + step, step))
        spans = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if a < b]

        def read(span: tuple[int, int]) -> np.ndarray:
            wanted = images[span[0] : span[1]]
            return np.asarray(arr[int(wanted[0]) : int(wanted[-1]) + 1])

        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(read, spans[0]) if spans else None
            for k, (lo, hi) in enumerate(spans):
                block = pending.result()
                pending = reader.submit(read, spans[k + 1]) if k + 1 < len(spans) else None
                wanted = images[lo:hi]
                if present is None:
                    first = (wanted - wanted[0], slice(None)) + (0,) * (block.ndim - 2)
                    here = ~np.isnan(block[first][:, repetitions])
                else:
                    here = present[lo:hi]
                y = self._average(block, wanted, repetitions, here, split)
                yield np.arange(lo, hi), y

    def _average(
        self,
        block: np.ndarray,
        wanted: np.ndarray,
        repetitions: np.ndarray,
        present: np.ndarray,
        split: str,
    ) -> np.ndarray:
        """Mean over the present ``repetitions`` of the ``wanted`` rows of ``block`` (m × T)."""
        m = len(wanted)
        offsets = wanted - wanted[0]
        if offsets[-1] + 1 != m:  # not one contiguous run of images
            block = block[offsets]
        if len(repetitions) == 1 and present.all():
            y = block[:, int(repetitions[0])].reshape(m, -1)
        else:
            y = np.zeros((m, self.n_targets))
            for j, rep in enumerate(repetitions):
                rows = present[:, j]
                y[rows] += block[rows, int(rep)].reshape(int(rows.sum()), -1)
            y /= np.maximum(present.sum(axis=1), 1)[:, None]
        finite = np.isfinite(y).all(axis=1)
        if not finite.all():
            img = int(wanted[~finite][0])
            if np.isinf(y[~finite]).any():
                i, t = np.argwhere(np.isinf(y))[0]
                raise DataError(
                    f"{self.path}/{split} contains infinite values (image {int(wanted[i])}, "
                    f"target {int(t)}); expected finite values"
                )
            raise DataError(
                f"{self.path}/{split}: image {img} has NaN responses in a present repetition; "
                "expected finite values (NaN only for whole missing repetitions)"
            )
        return y
