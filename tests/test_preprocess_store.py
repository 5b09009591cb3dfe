"""The prepared store writer on synthetic epochs: sorting into [image, rep], caps, atomicity."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from bergforge.errors import DataError
from bergforge.preprocess.store import (
    EpochBlock,
    EpochStaging,
    atomic_store,
    images_per_chunk,
    write_split_arrays,
)
from bergforge.store_manifest import open_verified_group

CHANNELS, TIMES = ["a", "b", "c"], np.linspace(-0.1, 0.2, 7)


def block(split, index, session, value_of):
    """Epochs whose every sample encodes (split, image, session) so the test can trace them."""
    data = np.stack([np.full((3, 7), value_of(split, i, session)) for i in index])
    return EpochBlock(
        data=data,
        split=np.full(len(index), split),
        index=np.asarray(index),
        channels=CHANNELS,
        times=TIMES,
        session=session,
        run=1,
        source=f"unit-{split}-{session}",
    )


def code(split, image, session):
    return (1000 if split == "test" else 0) + 10 * image + session


def test_epochs_are_sorted_into_images_and_repetitions(tmp_path):
    out = tmp_path / "prepared" / "sub-01.zarr"
    with atomic_store(out) as (group, staging_dir):
        staging = EpochStaging(staging_dir)
        staging.add(block("train", [4, 0, 2, 4], 1, code))  # image 4 twice in session 1
        staging.add(block("test", [1, 0], 1, code))
        staging.add(block("train", [0, 4, 3], 2, code))
        staging.add(block("test", [0, 1], 2, code))
        reps = write_split_arrays(
            group, staging, {"train": 6, "test": 2}, {"train": 2, "test": None}, chunk_mb=1e-4
        )
    assert reps == {"train": 2, "test": 2}
    assert sorted(p.name for p in out.parent.iterdir()) == ["sub-01.zarr"], "no temporary left"
    group = zarr.open_group(out, mode="r")
    train, sessions = group["train"][:], group["train_session"][:]
    assert train.shape == (6, 2, 3, 7) and group["train"].chunks[0] < 6
    assert train[4, 0, 0, 0] == code("train", 4, 1) and train[4, 1, 0, 0] == code("train", 4, 1)
    assert sessions[4].tolist() == [1, 1], "the third showing of image 4 is beyond the cap"
    assert train[0, :, 0, 0].tolist() == [code("train", 0, 1), code("train", 0, 2)]
    assert np.isnan(train[1]).all() and np.isnan(train[5]).all(), "never shown: NaN"
    assert sessions[1].tolist() == [-1, -1]
    assert np.isnan(train[2, 1]).all() and not np.isnan(train[2, 0]).any()
    test = group["test"][:]
    assert test[1, :, 0, 0].tolist() == [code("test", 1, 1), code("test", 1, 2)]


def test_an_error_inside_leaves_nothing(tmp_path):
    out = tmp_path / "prepared" / "sub-01.zarr"
    with pytest.raises(DataError, match="channels differ"), atomic_store(out) as (group, staging):
        group.create_array("train", shape=(1,), dtype="float32")
        stage = EpochStaging(staging)
        stage.add(block("train", [0], 1, code))
        bad = block("train", [1], 2, code)
        bad.channels = ["a", "b", "x"]
        stage.add(bad)
    assert list(out.parent.iterdir()) == []


def test_chunks_hold_whole_images():
    assert images_per_chunk(12, 271, 281, 8.0) == 2
    assert images_per_chunk(1, 271, 281, 8.0) == 26
    assert images_per_chunk(80, 63, 140, 0.001) == 1


def test_a_new_store_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "prepared" / "sub-01.zarr"
    for name in ("first", "second"):
        with atomic_store(out) as (group, _staging):
            group.attrs["run"] = name
            group.create_array(name, shape=(2,), dtype="float32")
    group = open_verified_group(out, "prepared store")  # the manifest is no member of the group
    assert group.attrs["run"] == "second" and list(group.array_keys()) == ["second"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["sub-01.zarr"]
