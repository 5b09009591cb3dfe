"""The trial-indexed prepared store: one writer (``write_trial_store``), one reader (``PreparedTrials``).

Real Zarr stores on tmp_path. The values read back are checked against the arrays the test made
and against the files read with plain Zarr (not through the reader); damage to a data chunk or to
the stored trial table is one ``DataError``; bad input and errors mid-write leave nothing behind.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import zarr
from encoding_data import write_prepared
from scipy import signal

from bergforge.errors import DataError
from bergforge.preprocess.bold_windows import clean_run, cut_windows
from bergforge.preprocess.decoding_split import decoding_split
from bergforge.preprocess.responses import PreparedResponses
from bergforge.preprocess.trial_responses import PreparedTrials
from bergforge.preprocess.trials_store import write_trial_store
from bergforge.store_checksums import MANIFEST, list_files

N_VERTEX, N_TR = 5, 4


def trial_table(n: int = 11) -> pd.DataFrame:
    """A trial table with the required columns and one format column of each kind."""
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "subject": np.full(n, 3),
            "session": np.repeat([1, 2], [6, n - 6]),
            "run": np.arange(n) % 3 + 1,
            "image": [f"img_{i:03d}" for i in range(n)],
            "split": (["train", "validation", "test"] * n)[:n],
            "onset": 6.0 + 10.0 * np.arange(n) + rng.uniform(0, 0.1, n),
            "rt": np.where(np.arange(n) % 4 == 0, np.nan, rng.uniform(0.3, 1.0, n)),
            "ImgType": ["rep_coco" if i % 5 == 0 else "coco" for i in range(n)],
            "response": np.arange(n, dtype=np.int32) % 4,
            "catch": np.arange(n) % 7 == 0,
        }
    )


def windows(n: int = 11, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, N_VERTEX, N_TR)).astype(np.float32)


def write(path, table, data, **kwargs):
    options = {
        "modality": "fmri",
        "dataset": "bold5000",
        "subject": 3,
        "dims": ["trial", "vertex", "tr"],
        "coords": {"vertex": [10, 11, 12, 13, 14], "tr": [0, 1, 2, 3]},
        "sampling_period": 2.0,
        "preprocessing": {"window_start": 2.0, "window_duration": 7.0},
        "chunk_mb": 3 * N_VERTEX * N_TR * 4 / 1e6,  # 3 trials per chunk
    }
    return write_trial_store(path, table, data, **{**options, **kwargs})


def test_round_trip_in_blocks(tmp_path):
    table, data = trial_table(), windows()
    path = tmp_path / "sub-03.zarr"
    # blocks of 4, 1, 6 trials: none aligned with the 3-trial chunks
    write(path, table, iter([data[:4], data[4:5], data[5:]]))
    back = PreparedTrials(path)
    pd.testing.assert_frame_equal(back.trials, table.astype({"response": "int64"}))
    assert back.trials["image"].map(type).eq(str).all()
    np.testing.assert_array_equal(back.read(), data)
    np.testing.assert_array_equal(back.read([7, 2, 2]), data[[7, 2, 2]])
    rows, values = back.read_split("validation")
    np.testing.assert_array_equal(rows.index, [1, 4, 7, 10])
    np.testing.assert_array_equal(values, data[[1, 4, 7, 10]])
    assert back.target_shape == (N_VERTEX, N_TR) and back.n_trials == 11
    assert (back.modality, back.dataset, back.subject) == ("fmri", "bold5000", 3)
    assert back.coords == {"vertex": [10, 11, 12, 13, 14], "tr": [0, 1, 2, 3]}
    assert back.sampling_period == 2.0 and back.dims == ["trial", "vertex", "tr"]
    assert back.attrs["layout"] == "trials" and back.attrs["nan_allowed"] is False
    assert back.preprocessing == {"window_start": 2.0, "window_duration": 7.0}
    # the files, read with plain Zarr rather than the reader
    raw = zarr.open_group(str(path), mode="r", zarr_format=3)
    assert raw["data"].chunks == (3, N_VERTEX, N_TR) and raw["data"].dtype == np.float32
    np.testing.assert_array_equal(raw["data"][:], data)
    assert list(raw["trials/image"][:]) == list(table["image"])
    np.testing.assert_array_equal(raw["trials/onset"][:], table["onset"].to_numpy())
    # sealed: every file of the store listed in checksums.json
    listed = json.loads((path / MANIFEST).read_text())["files"]
    assert sorted(listed) == list_files(path)
    assert "trials/split/c/0" in listed


def test_same_inputs_give_the_same_bytes(tmp_path):
    table, data = trial_table(), windows()
    write(tmp_path / "a.zarr", table, data)
    write(tmp_path / "b.zarr", table, [data[:5], data[5:]])
    assert (tmp_path / "a.zarr" / MANIFEST).read_bytes() == (
        tmp_path / "b.zarr" / MANIFEST
    ).read_bytes()


def test_nan_only_when_allowed(tmp_path):
    table, data = trial_table(), windows()
    data[5, 2, 1] = np.nan
    with pytest.raises(DataError, match=r"trial 5 has nan at target \(2, 1\).*allow_nan not set"):
        write(tmp_path / "x.zarr", table, data)
    write(tmp_path / "x.zarr", table, data, allow_nan=True)
    back = PreparedTrials(tmp_path / "x.zarr")
    assert back.attrs["nan_allowed"] is True
    np.testing.assert_array_equal(back.read([5])[0], data[5])  # NaN where it was
    data[6, 0, 0] = np.inf
    with pytest.raises(DataError, match="trial 6 has inf.*finite values or NaN"):
        write(tmp_path / "y.zarr", table, data, allow_nan=True)


def bad_inputs():
    table, data = trial_table(), windows()
    yield "rows", table.iloc[:10], data, "10 rows for 11 trials"
    yield "missing", table.drop(columns=["session"]), data, r"lacks columns \['session'\]"
    odd = table.assign(split=["train"] * 10 + ["val"])
    yield "split", odd, data, r"trial 10 has split 'val'; expected one of \('train', 'validation'"
    yield "image", table.assign(image=list(range(11))), data, "column 'image' is int; expected str"
    yield "onset", table.assign(onset=[np.nan] + [1.0] * 10), data, "trial 0 has onset nan"
    gaps = table.assign(session=pd.array([1] * 10 + [None], dtype="Int64"))
    yield "int_missing", gaps, data, "column 'session' \\(int\\) has missing values"
    mixed = table.assign(ImgType=["coco"] * 10 + [None])
    yield "kind", mixed, data, "column 'ImgType' has dtype"
    yield "shape", table, data[:, :4], r"targets have shape \(4, 4\); expected \(5, 4\)"
    yield "inf", table, np.where(np.arange(11)[:, None, None] == 3, np.inf, data), "trial 3 has inf"
    yield "short", table, iter([data[:4], data[4:10]]), "10 trials for a trial table of 11 rows"
    yield "long", table, iter([data, data[:1]]), "more than the trial table's 11 trials"


@pytest.mark.parametrize("case", list(bad_inputs()), ids=lambda c: c[0])
def test_bad_input_is_one_error_and_nothing_written(tmp_path, case):
    _, table, data, message = case
    with pytest.raises(DataError, match=message):
        write(tmp_path / "sub-03.zarr", table, data)
    assert list(tmp_path.iterdir()) == []  # no store, no hidden temporaries


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"dims": ["vertex", "tr"]}, "expected 'trial' then"),
        ({"coords": {"vertex": [1, 2, 3, 4, 5]}}, r"coordinates given for \['vertex'\]"),
        ({"sampling_period": 0.0}, "sampling period 0.0"),
        ({"modality": "pet"}, "modality 'pet'"),
    ],
)
def test_bad_attributes_are_refused(tmp_path, option, message):
    with pytest.raises(DataError, match=message):
        write(tmp_path / "sub-03.zarr", trial_table(), windows(), **option)
    assert list(tmp_path.iterdir()) == []


def test_an_error_mid_write_keeps_the_previous_store(tmp_path):
    path = tmp_path / "sub-03.zarr"
    table, old = trial_table(), windows(seed=5)
    write(path, table, old)

    def failing():
        yield windows()[:6]  # two chunks written into the new store, then the source fails
        raise RuntimeError("run 3 unreadable")

    with pytest.raises(RuntimeError, match="run 3 unreadable"):
        write(path, table, failing())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub-03.zarr"]
    np.testing.assert_array_equal(PreparedTrials(path).read(), old)


def test_damaged_chunk_or_edited_table_is_an_error(tmp_path):
    path = tmp_path / "sub-03.zarr"
    write(path, trial_table(), windows())
    chunk = path / "data" / "c" / "1" / "0" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    back = PreparedTrials(path)
    np.testing.assert_array_equal(back.read([0, 1, 2]), windows()[:3])  # other chunks still read
    with pytest.raises(DataError, match="chunk data/c/1/0/0 does not match its SHA-256"):
        back.read([4])

    write(path, trial_table(), windows())
    edited = zarr.open_group(str(path), mode="r+", zarr_format=3)
    images = edited["trials/image"][:]
    images[0] = "img_999"  # same length: the chunk may keep its size
    edited["trials/image"][:] = images
    with pytest.raises(DataError, match="trials/image/c/0"):
        _ = PreparedTrials(path).trials


def test_each_reader_refuses_the_other_layout(tmp_path):
    trials = write(tmp_path / "trials.zarr", trial_table(), windows())
    with pytest.raises(DataError, match="layout 'trials'.*Read it with .*PreparedTrials"):
        PreparedResponses(trials)
    images = write_prepared(
        tmp_path / "images.zarr", np.zeros((4, 2, 3, 5)), np.zeros((2, 2, 3, 5))
    )
    assert PreparedResponses(images).shape("train") == (4, 2)
    with pytest.raises(DataError, match="layout 'images'.*Read it with .*PreparedResponses"):
        PreparedTrials(images)


def test_reader_refuses_bad_requests(tmp_path):
    back = PreparedTrials(write(tmp_path / "sub-03.zarr", trial_table(), windows()))
    with pytest.raises(DataError, match="expected 0…10"):
        back.read([3, 11])
    with pytest.raises(DataError, match="split 'val'"):
        back.split_trials("val")
    assert back.read([]).shape == (0, N_VERTEX, N_TR)


def test_bold_windows_of_each_run_stored_with_their_split(tmp_path):
    """The decoding path: clean each run, cut its windows, split, store run by run, read a split."""
    rng = np.random.default_rng(7)
    runs = [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]
    onsets = 6.0 + 10.0 * np.arange(5)  # 5 trials per 60-TR run
    bold = {key: rng.standard_normal((N_VERTEX, 60)) + np.arange(60) * 0.05 for key in runs}
    images = [f"img_{i}" for i in range(len(runs) * 5)]
    images[3] = images[12] = images[21] = "rep_a"
    table = pd.DataFrame(
        {
            "subject": 3,
            "session": np.repeat([s for s, _ in runs], 5),
            "run": np.repeat([r for _, r in runs], 5),
            "image": images,
            "onset": np.tile(onsets, len(runs)),
        }
    )
    table["split"] = decoding_split(table, ["rep_a"])
    blocks = (cut_windows(clean_run(bold[key]), onsets, tr=2.0, expected_trs=N_TR) for key in runs)
    write(tmp_path / "sub-03.zarr", table, blocks)
    rows, values = PreparedTrials(tmp_path / "sub-03.zarr").read_split("test")
    np.testing.assert_array_equal(rows.index, [3, 12, 21])
    for row, value in zip(rows.itertuples(), values, strict=True):
        series = signal.detrend(bold[(row.session, row.run)], axis=1)
        series /= series.std(axis=1, ddof=1, keepdims=True)
        first = round((row.onset + 2.0) / 2.0)
        np.testing.assert_allclose(value, series[:, first : first + N_TR], atol=1e-6)
