"""The fMRI betas file: streamed in by trial rows, memory-mapped out, the trial table read alone;
the prepared store written from it one image chunk at a time. Memory is checked with tracemalloc
(numpy reports its buffers to it): neither step holds the subject's betas."""

from __future__ import annotations

import tracemalloc
import zipfile

import numpy as np
import pandas as pd
import pytest
import zarr

from bergforge.errors import DataError
from bergforge.preprocess.betas_file import BetasFile, write_betas
from bergforge.preprocess.fmri import stimulus_rows, write_prepared_subject


def _table(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    ids = rng.integers(1, 60, n)
    return {
        "image_73k_id": ids,
        "shared": ids < 10,
        "session": np.ones(n, int),
        "run": np.ones(n, int),
    }


def test_rows_written_in_blocks_read_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    betas = rng.normal(size=(23, 17)).astype(np.float32)
    table = _table(23, rng)
    path = tmp_path / "sub-01.npz"
    blocks = [betas[:5], betas[5], betas[6:20], betas[20], betas[21:]]
    write_betas(path, blocks, 23, np.arange(100, 117), table)
    f = BetasFile(path)
    np.testing.assert_array_equal(f.rows(), betas)
    np.testing.assert_array_equal(f.rows()[[3, 19]], betas[[3, 19]])
    np.testing.assert_array_equal(f.grayordinates(), np.arange(100, 117))
    pd.testing.assert_frame_equal(f.trials(), pd.DataFrame(table))
    with np.load(path, allow_pickle=False) as plain:  # an ordinary npz for numpy too
        np.testing.assert_array_equal(plain["betas_by_trial"], betas)


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([np.zeros((4, 17))], "4 rows of betas given; expected 5"),
        ([np.zeros((6, 17))], "6 rows of betas given; expected 5"),
        ([np.zeros((5, 16))], r"shape \(5, 16\); expected \(trials, 17\) rows"),
    ],
)
def test_a_wrong_count_or_width_leaves_no_file(tmp_path, blocks, message):
    path = tmp_path / "sub-01.npz"
    with pytest.raises(DataError, match=message):
        write_betas(path, blocks, 5, np.arange(17), _table(5, np.random.default_rng(1)))
    assert list(tmp_path.iterdir()) == []


def test_unreadable_files_are_one_clear_error(tmp_path):
    older = tmp_path / "older.npz"
    np.savez(older, betas=np.zeros((3, 2), np.float32), grayordinates=np.arange(3))
    with pytest.raises(DataError, match="older layout, 'betas' by vertex: delete it and rerun"):
        BetasFile(older)
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, betas_by_trial=np.zeros((3, 2), np.float32))
    with pytest.raises(DataError, match="is compressed"):
        BetasFile(packed).rows()
    whole = tmp_path / "whole.npz"
    write_betas(whole, [np.ones((40, 50))], 40, np.arange(50), _table(40, np.random.default_rng(2)))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[:-3000])
    with pytest.raises(DataError, match="cut.npz: not a readable betas file"):
        BetasFile(cut)
    flipped = bytearray(whole.read_bytes())
    flipped[-5000] ^= 0xFF  # a byte of the last betas row
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match="damaged.npz: 'betas_by_trial' does not match its CRC-32"):
        BetasFile(damaged).rows()
    with pytest.raises(DataError, match="betas file not found"):
        BetasFile(tmp_path / "none.npz")
    assert zipfile.is_zipfile(whole)


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _subject(tmp_path, n_own: int, n_vertices: int = 4000):
    """A subject with ``n_own`` training images × 2 trials and 40 shared images × 25 trials:
    its betas file written from a generator of rows, then its prepared store (chunks of 4
    images); returns (ids, row function, stimuli, store, write peak, prepare peak) in bytes."""
    rng = np.random.default_rng(3)
    shared = np.arange(1, 41)
    ids = np.concatenate([np.repeat(np.arange(100, 100 + n_own), 2), np.repeat(shared, 25)])
    rng.shuffle(ids)
    n_trials = len(ids)
    table = {
        "image_73k_id": ids,
        "shared": np.isin(ids, shared),
        "session": np.ones(n_trials, int),
        "run": np.ones(n_trials, int),
    }
    folder = tmp_path / f"own-{n_own}"
    folder.mkdir()

    def row(k: int) -> np.ndarray:
        return np.random.default_rng(k).normal(size=n_vertices).astype(np.float32)

    rows = (row(k) for k in range(n_trials))
    path = folder / "sub-01.npz"
    write = _peak(lambda: write_betas(path, rows, n_trials, np.arange(n_vertices), table))
    stimuli = stimulus_rows({1: pd.DataFrame(table)})
    store = folder / "sub-01.zarr"
    betas = BetasFile(path)
    prepare = _peak(lambda: write_prepared_subject(betas, stimuli, store, "t", 1, chunk_images=4))
    return ids, row, stimuli, store, write, prepare


def test_writing_and_preparing_never_hold_the_subjects_betas(tmp_path):
    """Doubling a subject (2,000 → 3,000 trials × 4,000 vertices, 32 → 48 MB of betas) leaves the
    peak memory of writing its betas file and of preparing its store where it was: both hold a
    row or a chunk of images (and fixed I/O buffers), never the betas."""
    _, _, _, _, write_small, prepare_small = _subject(tmp_path, 500)
    ids, row, stimuli, store, write, prepare = _subject(tmp_path, 1000)
    n_vertices, size = 4000, len(ids) * 4000 * 4
    chunk = 4 * 25 * n_vertices * 4  # 4 images × 25 repetitions: 1.6 MB
    assert write < write_small + chunk and write < size / 4, (write_small, write, size)
    assert prepare < prepare_small + chunk and prepare < size / 2, (prepare_small, prepare, size)

    # the store holds each trial's row at its image and repetition (independent dense reference)
    group = zarr.open_group(str(store), mode="r")
    for split, n_reps in (("train", 25), ("test", 25)):
        ids_split = stimuli.loc[stimuli["split"] == split, "image_73k_id"].to_numpy()
        assert group[split].shape == (len(ids_split), n_reps, n_vertices)
        for i in (0, len(ids_split) // 2, len(ids_split) - 1):
            got = group[split][i]
            trials = np.flatnonzero(ids == ids_split[i])
            expected = np.stack([row(k) for k in trials])
            np.testing.assert_array_equal(got[: len(trials)], expected)
            assert np.isnan(got[len(trials) :]).all()
