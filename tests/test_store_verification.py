"""Verified stores: every Zarr store bergforge writes is checked against its checksums when read.

Tiny real stores are written here (a prepared store by the test helper that docs/interfaces.md's
layout describes, feature shards by hand) and sealed as bergforge's writers seal them; the real
readers (``PreparedResponses``, ``FeatureStore``) then meet each fault: a deleted, swapped,
flipped or truncated chunk, an unlisted file, a damaged metadata file, a missing or unreadable
manifest. Each is one ``DataError`` naming the store and the file; an undamaged store reads the
arrays that were written. The last test damages the session's tiny build and checks that the fit
job fails and leaves no model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from encoding_data import write_prepared

from bergforge.atomic import load_npz, save_npz
from bergforge.cli import main
from bergforge.errors import DataError
from bergforge.features.store import FeatureStore
from bergforge.preprocess.responses import PreparedResponses
from bergforge.preprocess.store import atomic_store
from bergforge.store_checksums import MANIFEST, check_store, seal_store
from bergforge.store_manifest import open_verified_group
from conftest import run_snakemake

LAYERS = {"a": 6, "b": 4}
ADVICE = "delete it and rerun the job that writes it"


def write_shards(folder: Path, values: np.ndarray, rows_per_shard: int = 6) -> list[Path]:
    """Feature shards of ``values`` ``[image, feature]`` (layers ``a``, ``b``; 3-row chunks)."""
    starts = list(range(0, len(values), rows_per_shard))
    paths = []
    for k, start in enumerate(starts, 1):
        stop = min(start + rows_per_shard, len(values))
        path = folder / f"shard-{k}-of-{len(starts)}.zarr"
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        group.attrs.update(
            {
                "layers": list(LAYERS),
                "layer_sizes": list(LAYERS.values()),
                "rows": [start, stop],
                "shard": [k, len(starts)],
                "image_ids": [f"img{i}" for i in range(start, stop)],
            }
        )
        for layer, cols in (("a", slice(0, 6)), ("b", slice(6, 10))):
            array = group.create_array(
                layer,
                shape=(stop - start, LAYERS[layer]),
                chunks=(3, LAYERS[layer]),
                dtype="float32",
                compressors=None,  # the features stage's default: raw float32 chunks
                fill_value=0,
                config={"write_empty_chunks": True},
            )
            array[:] = values[start:stop, cols]
        seal_store(path)
        paths.append(path)
    return paths


@pytest.fixture
def features(tmp_path) -> tuple[np.ndarray, list[Path]]:
    values = np.random.default_rng(0).standard_normal((12, 10)).astype(np.float32)
    return values, write_shards(tmp_path / "features", values)


@pytest.fixture
def prepared(tmp_path) -> tuple[np.ndarray, np.ndarray, Path]:
    rng = np.random.default_rng(1)
    train = rng.standard_normal((16, 2, 3, 5)).astype(np.float32)
    test = rng.standard_normal((4, 3, 3, 5)).astype(np.float32)
    return train, test, write_prepared(tmp_path / "sub-01.zarr", train, test, chunk=4)


def read_features(shards: list[Path]) -> np.ndarray:
    return FeatureStore.open(shards).read_columns(0, 10)


def read_prepared(path: Path) -> np.ndarray:
    responses = PreparedResponses(path)
    return np.concatenate(
        [y for _, y in responses.batches("train", np.arange(16), np.array([0, 1]))]
    )


def flip(path: Path, offset: int = 8, n: int = 16) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + n] = bytes(b ^ 0xFF for b in raw[offset : offset + n])
    path.write_bytes(bytes(raw))


def test_the_manifest_lists_every_file_by_path_size_and_sha256(prepared):
    *_, path = prepared
    manifest = json.loads((path / MANIFEST).read_text())
    files = sorted(
        p.relative_to(path).as_posix()
        for p in path.rglob("*")
        if p.is_file() and p.name != MANIFEST
    )
    assert manifest["algorithm"] == "sha256" and sorted(manifest["files"]) == files
    assert "train/c/1/0/0/0" in files and "train/zarr.json" in files and "zarr.json" in files
    for key in files:
        data = (path / key).read_bytes()
        assert manifest["files"][key] == {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    before = (path / MANIFEST).read_bytes()
    seal_store(path)
    assert (path / MANIFEST).read_bytes() == before, "same files, same manifest bytes"


def test_undamaged_stores_read_what_was_written(features, prepared):
    values, shards = features
    np.testing.assert_array_equal(read_features(shards), values)
    np.testing.assert_array_equal(FeatureStore.open(shards).read_rows([11, 2]), values[[11, 2]])
    train, _test, path = prepared
    expected = train.astype(np.float64).mean(axis=1).reshape(16, -1)
    np.testing.assert_allclose(read_prepared(path), expected, rtol=1e-6)
    group = PreparedResponses(path).group
    assert sorted(group.array_keys()) == ["test", "test_session", "train", "train_session"]


def test_the_prepared_store_writer_seals_its_store(tmp_path):
    out = tmp_path / "prepared" / "sub-01.zarr"
    with atomic_store(out) as (group, _staging):
        group.create_array(
            "train", data=np.arange(12, dtype=np.float32).reshape(6, 2), chunks=(2, 2)
        )
    listed = check_store(out, "prepared store")
    assert sorted(listed) == [
        "train/c/0/0",
        "train/c/1/0",
        "train/c/2/0",
        "train/zarr.json",
        "zarr.json",
    ]
    np.testing.assert_array_equal(
        open_verified_group(out, "x")["train"][:], np.arange(12).reshape(6, 2)
    )


def _delete(store: Path, key: str) -> None:
    (store / key).unlink()


def _swap(store: Path, key: str) -> None:
    other = key.replace("/c/1/", "/c/0/")
    shutil.copyfile(store / other, store / key)


def _flip(store: Path, key: str) -> None:
    flip(store / key)


def _truncate(store: Path, key: str) -> None:
    data = (store / key).read_bytes()
    (store / key).write_bytes(data[:-4])


FAULTS = {
    "deleted": (_delete, "is missing"),
    "swapped": (_swap, "does not match its SHA-256 in checksums.json \\(changed, or swapped"),
    "flipped": (_flip, "does not match its SHA-256"),
    "truncated": (_truncate, "has \\d+ bytes; checksums.json lists \\d+"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_feature_chunk_is_one_error_naming_shard_and_chunk(features, fault):
    _values, shards = features
    damage, message = FAULTS[fault]
    damage(shards[0], "a/c/1/0")
    with pytest.raises(DataError, match=message) as caught:
        read_features(shards)
    text = str(caught.value)
    assert text.startswith(f"feature shard {shards[0]}: chunk a/c/1/0 ") and ADVICE in text


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_prepared_chunk_is_one_error_naming_store_and_chunk(prepared, fault):
    *_, path = prepared
    damage, message = FAULTS[fault]
    damage(path, "train/c/1/0/0/0")
    with pytest.raises(DataError, match=message) as caught:
        read_prepared(path)
    text = str(caught.value)
    assert text.startswith(f"prepared store {path}: chunk train/c/1/0/0/0 ") and ADVICE in text


def test_without_checksums_the_same_damage_reads_silently_or_crashes_in_the_decoder(
    features, prepared
):
    """What the checks prevent: plain Zarr reads a swapped raw chunk as values, a flipped
    compressed chunk fails inside the decompressor without naming the file."""
    values, shards = features
    _swap(shards[0], "a/c/1/0")
    swapped = zarr.open_group(str(shards[0]), mode="r")["a"][:]
    assert not np.array_equal(swapped, values[:6, :6])
    np.testing.assert_array_equal(swapped[3:6], values[0:3, :6])
    train, _test, path = prepared
    _flip(path, "train/c/1/0/0/0")
    try:
        flipped = zarr.open_group(str(path), mode="r")["train"][:]
    except Exception as err:  # the decoder's error, naming no file
        assert not isinstance(err, DataError) and "train/c/1/0/0/0" not in str(err)
    else:
        assert not np.array_equal(flipped, train)


def test_a_chunk_damaged_after_it_was_verified_is_caught_on_its_next_read(features):
    """A verified chunk is not hashed again while its file is unchanged; a copy over it is."""
    values, shards = features
    chunk = shards[0] / "b/c/1/0"
    written = chunk.stat().st_mtime_ns - 10**10  # as if written 10 s ago: the copy's mtime differs
    os.utime(chunk, ns=(written, written))
    store = FeatureStore.open(shards)
    np.testing.assert_array_equal(store.read_columns(0, 10), values)
    np.testing.assert_array_equal(store.read_columns(0, 10), values)  # the memo: same values
    _swap(shards[0], "b/c/1/0")  # copied in place: same inode and size, new mtime
    with pytest.raises(DataError, match="chunk b/c/1/0 does not match"):
        store.read_columns(0, 10)


def test_damaged_metadata_is_named(prepared):
    *_, path = prepared
    meta = path / "train" / "zarr.json"
    text = meta.read_text()
    meta.write_text(text + "\n")
    with pytest.raises(DataError, match=r"metadata file train/zarr.json has \d+ bytes"):
        PreparedResponses(path)
    meta.write_text(text.replace('"float32"', '"float64"'))  # same size: only the hash tells
    with pytest.raises(DataError, match="metadata file train/zarr.json does not match its SHA-256"):
        PreparedResponses(path)


def test_an_unlisted_file_is_refused(features):
    values, shards = features
    (shards[1] / ".snakemake_timestamp").touch()  # hidden files are not the store's
    np.testing.assert_array_equal(read_features(shards), values)
    extra = shards[1] / "a" / "c" / "9" / "0"
    extra.parent.mkdir()
    shutil.copyfile(shards[1] / "a" / "c" / "0" / "0", extra)
    with pytest.raises(DataError, match="chunk a/c/9/0 is not listed in checksums.json"):
        read_features(shards)


def test_a_store_without_its_manifest_is_incomplete(features, prepared):
    _values, shards = features
    (shards[1] / MANIFEST).unlink()
    with pytest.raises(
        DataError, match=f"feature shard {shards[1]}: no checksums.json.*incomplete"
    ):
        read_features(shards)
    *_, path = prepared
    (path / MANIFEST).write_text('{"files": ')
    with pytest.raises(DataError, match=f"prepared store {path}: checksums.json is unreadable"):
        PreparedResponses(path)


def test_seal_stores_adds_checksums_to_stores_of_an_earlier_version(tmp_path, capsys):
    """A store written without checksums is refused until `bergforge seal-stores` adds them."""
    values = np.arange(24, dtype=np.float32).reshape(12, 2)
    old = tmp_path / "results" / "prepared" / "x" / "sub-01.zarr"
    group = zarr.open_group(str(old), mode="w", zarr_format=3)
    group.create_array("train", data=values, chunks=(4, 2))
    with pytest.raises(DataError, match="no checksums.json.*bergforge seal-stores"):
        open_verified_group(old, "prepared store")
    (tmp_path / "results" / ".sub-02.zarr.building").mkdir()  # hidden: never sealed
    assert main(["seal-stores", str(tmp_path / "results")]) == 0
    assert capsys.readouterr().out.split() == ["sealed", str(old)]
    assert not (tmp_path / "results" / ".sub-02.zarr.building" / MANIFEST).exists()
    np.testing.assert_array_equal(open_verified_group(old, "x")["train"][:], values)
    assert main(["seal-stores", str(old)]) == 0
    assert capsys.readouterr().out.split() == ["already", "sealed", str(old)]
    (old / "train" / "c" / "1" / "0").unlink()
    assert main(["seal-stores", str(old)]) == 2, "a sealed store is checked, never resealed"
    assert "chunk train/c/1/0 is missing" in capsys.readouterr().err
    assert main(["seal-stores", str(tmp_path / "nothing")]) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:200] + bytes(b ^ 0xFF for b in raw[200:216]) + raw[216:],
        lambda raw: raw[:-30],
    ],
    ids=["flipped", "truncated"],
)
def test_a_damaged_npz_is_one_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "regression.npz"
    save_npz(path, coef_=np.arange(500, dtype=np.float32), alpha_=np.ones(3))
    assert load_npz(path, ["coef_"])["coef_"].tolist() == list(range(500))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=f"{path}: damaged or not an .npz file .*{ADVICE}"):
        load_npz(path, ["coef_"])


MODEL = "results/models/tiny/alexnet_untrained/sub-01/split-all"
SHARD = "results/features/tiny/alexnet_untrained/shard-1-of-2.zarr"
PREPARED = "results/prepared/tiny/sub-01.zarr"


def assert_fit_fails(work: Path, message: str) -> None:
    """The forced fit job exits non-zero with ``message``, and leaves no model files."""
    proc = run_snakemake(work, "--cores", "1", "--force", f"{MODEL}/model.json", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in text, text[-4000:]
    assert "DataError" in text
    assert not (work / MODEL / "model.json").exists()
    assert not (work / MODEL / "regression.npz").exists()


@pytest.mark.workflow
def test_the_fit_job_fails_on_a_damaged_store_and_leaves_no_model(tiny_built, tmp_path):
    """A swapped feature chunk, then a flipped prepared chunk: the forced fit job exits non-zero
    with the error naming store and chunk, and leaves no model.json or regression.npz."""
    work = tmp_path / "work"
    shutil.copytree(tiny_built, work, symlinks=True)
    chunk = work / SHARD / "classifier.5/c/0/0"  # the shard's one chunk of a 4,096-wide layer
    original = chunk.read_bytes()
    shutil.copyfile(work / SHARD / "classifier.2/c/0/0", chunk)  # same size, wrong place
    assert_fit_fails(work, f"feature shard {SHARD}: chunk classifier.5/c/0/0 does not match")
    chunk.write_bytes(original)
    flip(work / PREPARED / "train/c/0/0/0/0", offset=40)
    assert_fit_fails(work, f"prepared store {PREPARED}: chunk train/c/0/0/0/0 does not match")


EVALUATION = "results/evaluation/tiny/alexnet_untrained/sub-01/evaluation.npz"
EVALUATION_LOG = "logs/evaluate/tiny/alexnet_untrained/sub-01.log"


@pytest.mark.workflow
def test_a_model_file_swapped_for_another_splits_is_refused_by_the_evaluation(tiny_built, tmp_path):
    """split-all's regression.npz replaced by split-single-1's (a valid file of the same shape):
    the forced evaluation exits non-zero with one error naming the folder and the file, in its log
    file, and leaves no evaluation.npz."""
    work = tmp_path / "work"
    shutil.copytree(tiny_built, work, symlinks=True)
    other = work / MODEL.replace("split-all", "split-single-1") / "regression.npz"
    ours = work / MODEL / "regression.npz"
    a, b = (np.load(p)["coef_"] for p in (ours, other))
    assert a.shape == b.shape and not np.array_equal(a, b)  # a plausible model, a wrong one
    shutil.copyfile(other, ours)
    proc = run_snakemake(work, "--cores", "1", "--force", EVALUATION, check=False)
    text = proc.stdout + proc.stderr
    message = (
        f"model folder {MODEL}: file regression.npz does not match its SHA-256 in checksums.json "
        "(damaged or swapped for another file)"
    )
    assert proc.returncode != 0 and message in text, text[-4000:]
    assert message in (work / EVALUATION_LOG).read_text()
    assert not (work / EVALUATION).exists()
