"""Fast float16 → float32 reading: bit-identical to NumPy's conversion, on every read path."""

from __future__ import annotations

import numpy as np
import zarr

from bergforge.features.cast import as_float32, copy_to_float32
from bergforge.models.linear.matrix import ArrayFeatures, iter_column_blocks


def test_every_float16_value_converts_exactly_as_numpy_does():
    every = np.arange(2**16, dtype=np.uint16).view(np.float16)  # subnormals, ±0, ±inf, NaNs
    src = np.tile(every, 2).reshape(512, 256)
    ours = as_float32(src)
    assert ours.dtype == np.float32
    ref = src.astype(np.float32)
    nan = np.isnan(ref)
    assert nan.sum() == 2 * 2046 and np.isnan(ours[nan]).all()  # NaN stays NaN (payloads aside)
    np.testing.assert_array_equal(ours[~nan].view(np.uint32), ref[~nan].view(np.uint32))


def test_a_strided_destination_gets_only_its_own_cells():
    src = np.random.default_rng(0).standard_normal((300, 400)).astype(np.float16)
    dst = np.full((310, 500), -7.0, dtype=np.float32)
    copy_to_float32(dst[5:305, 50:450], src)
    np.testing.assert_array_equal(dst[5:305, 50:450], src.astype(np.float32))
    outside = dst.copy()
    outside[5:305, 50:450] = -7.0
    assert (outside == -7.0).all()


def test_read_columns_with_consecutive_or_scattered_rows_match(tmp_path):
    x = np.random.default_rng(1).standard_normal((90, 70)).astype(np.float16)
    store = zarr.create_array(str(tmp_path / "f.zarr"), shape=x.shape, chunks=(32, 16), dtype="f2")
    store[:] = x
    features = ArrayFeatures(store)
    for rows in (np.arange(10, 60), np.array([3, 1, 50, 7]), np.arange(90)):
        got = features.read_columns(5, 40, rows)
        np.testing.assert_array_equal(got, x[rows, 5:40].astype(np.float32))
        assert got.dtype == np.float32


def test_blocks_are_prepared_in_column_order_on_the_reading_thread():
    x = np.arange(40, dtype=np.float32).reshape(4, 10)
    seen = []

    def prepare(start, stop, block):
        seen.append(start)
        return block * 2

    blocks = list(iter_column_blocks(ArrayFeatures(x), np.arange(4), 3, prepare))
    assert seen == [0, 3, 6, 9]
    np.testing.assert_array_equal(np.hstack([b for _, _, b in blocks]), x * 2)


def test_only_strictly_consecutive_indices_become_slices():
    from bergforge.features.cast import consecutive_slice

    assert consecutive_slice(np.arange(4, 9)) == slice(4, 9)
    assert consecutive_slice(np.array([7])) == slice(7, 8)
    for index in (
        [],
        [1, 1, 3],
        [0, 2, 3],
        [3, 2, 1],
    ):  # a repeat spans as many cells as its length
        assert consecutive_slice(np.array(index, dtype=np.int64)) is None
