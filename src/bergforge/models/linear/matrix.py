"""The feature-matrix protocol the encoding stage reads, and column-block streaming over it.

Any object with ``.shape`` and ``.read_columns(start, stop, rows=None)`` works (the features
stage's ``FeatureStore``, or :class:`ArrayFeatures` over a NumPy or Zarr array). Blocks are read
one ahead on a background thread so that reading overlaps with the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from bergforge.errors import DataError
from bergforge.features.cast import as_float32, consecutive_slice


class FeatureMatrix(Protocol):
    """What the encoding stage needs from a feature store (docs/interfaces.md, features)."""

    @property
    def shape(self) -> tuple[int, int]: ...

    def read_columns(self, start: int, stop: int, rows: np.ndarray | None = None) -> np.ndarray: ...


class ArrayFeatures:
    """A :class:`FeatureMatrix` over any 2-D array-like (NumPy, ``np.memmap``, Zarr array)."""

    def __init__(self, array) -> None:
        if len(array.shape) != 2:
            raise DataError(f"features must be 2-D [image, feature]; got shape {array.shape}")
        self.array = array

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.array.shape)

    def read_columns(self, start: int, stop: int, rows: np.ndarray | None = None) -> np.ndarray:
        if rows is not None:
            rows = np.asarray(rows)
            rows = consecutive_slice(rows) or rows  # a slice reads fastest
        if rows is None:
            block = self.array[:, start:stop]
        elif isinstance(rows, slice):
            block = self.array[rows, start:stop]
        elif hasattr(self.array, "oindex"):
            block = self.array.oindex[rows, slice(start, stop)]
        else:
            block = self.array[rows, start:stop]
        return as_float32(block)

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.read_columns(0, self.shape[1], rows)


def column_ranges(n_columns: int, block_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of consecutive column blocks of at most ``block_size`` columns."""
    return [(s, min(s + block_size, n_columns)) for s in range(0, n_columns, block_size)]


def check_finite(block: np.ndarray, start: int, what: str = "features") -> None:
    """Raise :class:`DataError` naming the first non-finite column of a block."""
    bad = ~np.isfinite(block)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{what} contain NaN or infinite values (first at row {row}, column {start + col}); "
            "expected finite numbers"
        )


def iter_column_blocks(
    features: FeatureMatrix,
    rows: np.ndarray,
    block_size: int,
    prepare: Callable[[int, int, np.ndarray], Any] | None = None,
) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(start, stop, block[rows, start:stop])`` over all columns, reading one block ahead.

    ``prepare(start, stop, block)``, if given, runs on the reading thread too (blocks in column
    order), so that elementwise work such as scaling overlaps with the caller's arithmetic.
    """
    ranges = column_ranges(features.shape[1], block_size)

    def read(start: int, stop: int) -> Any:
        block = features.read_columns(start, stop, rows)
        if block.shape != (len(rows), stop - start):
            raise DataError(
                f"feature store returned a block of shape {block.shape} for columns "
                f"{start}:{stop}; expected {(len(rows), stop - start)}"
            )
        return block if prepare is None else prepare(start, stop, block)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read, *ranges[0])
        for i, (start, stop) in enumerate(ranges):
            block = pending.result()
            if i + 1 < len(ranges):
                pending = pool.submit(read, *ranges[i + 1])
            yield start, stop, block
