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


def test_writing_and_preparing_never_hold_the_subjects_betas(tmp_path):
    """3,000 trials × 4,000 vertices (48 MB): the writer streams one row at a time, the prepared
    store is filled one chunk of 4 images at a time; both peak far below the betas' size."""
    rng = np.random.default_rng(3)
    n_trials, n_vertices = 3000, 4000
    shared = np.arange(1, 41)
    own = np.arange(100, 1100)
    ids = np.concatenate([np.repeat(own, 2), np.repeat(shared, 25)])
    rng.shuffle(ids)
    table = {
        "image_73k_id": ids,
        "shared": np.isin(ids, shared),
        "session": np.ones(n_trials, int),
        "run": np.ones(n_trials, int),
    }
    path = tmp_path / "sub-01.npz"

    def row(k: int) -> np.ndarray:
        return np.random.default_rng(k).normal(size=n_vertices).astype(np.float32)

    size = n_trials * n_vertices * 4
    peak = _peak(
        lambda: write_betas(
            path, (row(k) for k in range(n_trials)), n_trials, np.arange(n_vertices), table
        )
    )
    assert peak < size / 20, (peak, size)

    stimuli = stimulus_rows({1: pd.DataFrame(table)})
    store = tmp_path / "sub-01.zarr"
    betas = BetasFile(path)
    peak = _peak(lambda: write_prepared_subject(betas, stimuli, store, "t", 1, chunk_images=4))
    # one chunk: 4 images × 25 repetitions × 4,000 vertices × 4 B = 1.6 MB, its rows read, and
    # the chunk's encoded copy: a few chunks, whatever the subject's size
    chunk = 4 * 25 * n_vertices * 4
    assert peak < 5 * chunk < size / 5, (peak, chunk, size)

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
