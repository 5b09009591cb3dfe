"""Shard writing and FeatureStore reading: sharded = unsharded, byte-identical reruns, BERG parity."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import zarr
from features_data import make_stimuli
from PIL import Image

from bergforge.errors import DataError
from bergforge.features.job import extract_shard
from bergforge.features.manifest_job import write_manifest
from bergforge.features.plan import shard_count, shard_name, shard_rows
from bergforge.features.registry import ALEXNET_NODES, BERG_SEED
from bergforge.features.store import FeatureStore
from bergforge.store_checksums import MANIFEST, check_store

N_IMAGES = 10
SETTINGS = {"shard_size": 4, "batch_size": 2, "device": "cpu", "workers": 2}


def extract_all(root: Path, out: Path, backbone="alexnet_untrained", overrides=None, **settings):
    """Every shard of ``root/stimuli.tsv`` into ``out``; returns the shard paths in order."""
    features = {**SETTINGS, **settings}
    table = root / "stimuli.tsv"
    n = shard_count(len(pd.read_csv(table, sep="\t")), features["shard_size"])
    return [
        extract_shard(table, backbone, overrides, features, i, n, out / shard_name(i, n), 2, root)
        for i in range(1, n + 1)
    ]


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stimuli")
    make_stimuli(root, N_IMAGES)
    return root


@pytest.fixture(scope="module")
def sharded(stimuli, tmp_path_factory) -> list[Path]:
    return extract_all(stimuli, tmp_path_factory.mktemp("sharded"))


def test_shards_cover_the_table_in_order(sharded):
    assert [p.name for p in sharded] == [f"shard-{i}-of-3.zarr" for i in (1, 2, 3)]
    assert [list(zarr.open_group(str(p), mode="r").attrs["rows"]) for p in sharded] == [
        [0, 4],
        [4, 8],
        [8, 10],
    ]
    with pytest.raises(DataError, match="shard 4-of-4 does not fit 10 images"):
        shard_rows(4, 4, 10, 4)
    for shard in sharded:  # the writer seals each shard: checksums.json lists every other file
        files = {f.relative_to(shard).as_posix() for f in shard.rglob("*") if f.is_file()}
        assert set(check_store(shard, str(shard))) == files - {MANIFEST}
        assert "features.2/c/0/0" in files


def test_store_layout_attributes_and_chunks(sharded):
    group = zarr.open_group(str(sharded[0]), mode="r")
    attrs = group.attrs
    assert list(attrs["layers"]) == list(ALEXNET_NODES) == list(attrs["nodes"])
    assert attrs["n_features"] == 205_672 and list(attrs["shape"]) == [4, 205_672]
    assert list(attrs["image_ids"]) == ["img000", "img001", "img002", "img003"]
    assert attrs["weights"] == {"kind": "random_init", "seed": BERG_SEED}
    assert "ImageClassification" in attrs["transform"] and "224" in attrs["transform"]
    for layer, size in zip(attrs["layers"], attrs["layer_sizes"], strict=True):
        array = group[layer]
        assert array.dtype == np.float32
        assert array.shape == (4, size)
        assert array.chunks[1] == size  # chunks never cross a layer boundary
        assert array.chunks[0] % SETTINGS["batch_size"] == 0  # whole batches per chunk


def test_shards_read_as_one_array_equal_one_unsharded_pass(stimuli, sharded, tmp_path):
    whole = extract_all(stimuli, tmp_path, shard_size=N_IMAGES)
    assert len(whole) == 1
    one = FeatureStore.open(whole).as_dask().compute()
    store = FeatureStore.open(list(reversed(sharded)))  # any order
    assert store.shape == one.shape == (N_IMAGES, 205_672)
    np.testing.assert_array_equal(store.as_dask().compute(), one)
    rows = [9, 0, 5, 5, 3]
    np.testing.assert_array_equal(store.read_rows(rows), one[rows])
    # a column block across the features.2 / features.5 boundary, on scattered rows
    np.testing.assert_array_equal(
        store.read_columns(46_000, 47_000, rows=[7, 1, 4]), one[[7, 1, 4], 46_000:47_000]
    )
    np.testing.assert_array_equal(store.read_columns(205_000, 205_672), one[:, 205_000:])
    np.testing.assert_array_equal(store.read_layer("classifier.6"), one[:, -1000:])
    assert store.image_ids == [f"img{k:03d}" for k in range(N_IMAGES)]


def test_features_equal_an_independently_built_berg_alexnet(stimuli, sharded):
    from torchvision.models import AlexNet_Weights, alexnet
    from torchvision.models.feature_extraction import create_feature_extractor

    torch.manual_seed(20200220)
    model = create_feature_extractor(alexnet(weights=None).eval(), list(ALEXNET_NODES)).eval()
    transform = AlexNet_Weights.IMAGENET1K_V1.transforms()
    files = pd.read_csv(stimuli / "stimuli.tsv", sep="\t")["file"]
    batch = torch.stack([transform(Image.open(stimuli / f).convert("RGB")) for f in files])
    with torch.no_grad():
        out = model(batch)
    expected = torch.cat([out[n].flatten(1) for n in ALEXNET_NODES], dim=1).numpy()
    got = FeatureStore.open(sharded).read_rows(range(N_IMAGES))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_two_runs_give_byte_identical_stores(stimuli, sharded, tmp_path):
    again = extract_all(stimuli, tmp_path)
    first, second = digests(sharded[0].parent), digests(again[0].parent)
    assert len(first) > 3 * 9  # group + 8 arrays per shard, with chunks
    assert first == second


def test_float16_store_reads_back_as_float32(stimuli, sharded, tmp_path):
    half = extract_all(stimuli, tmp_path, dtype="float16", compression="zstd")
    assert zarr.open_group(str(half[0]), mode="r")["features.2"].dtype == np.float16
    got = FeatureStore.open(half).read_rows([0, 9])
    assert got.dtype == np.float32
    full = FeatureStore.open(sharded).read_rows([0, 9])
    np.testing.assert_allclose(got, full, rtol=1e-3, atol=1e-3)


def test_vit_b_32_stores_460800_features(tmp_path):
    make_stimuli(tmp_path, 3)
    shards = extract_all(tmp_path, tmp_path / "out", "vit_b_32", {"weights": "none"}, shard_size=2)
    store = FeatureStore.open(shards)
    assert store.shape == (3, 460_800)
    assert store.layer_sizes["encoder.layers.encoder_layer_11"] == 50 * 768


def test_manifest_lists_the_shards_and_opens_as_one_store(sharded):
    manifest = write_manifest(sharded, sharded[0].parent / "features.json")
    assert manifest["shape"] == [N_IMAGES, 205_672]
    assert manifest["shards"] == [p.name for p in sharded]
    by_file = FeatureStore.open(sharded[0].parent / "features.json")
    by_folder = FeatureStore.open(sharded[0].parent)
    assert by_file.shape == by_folder.shape == (N_IMAGES, 205_672)


def test_an_incomplete_shard_set_is_an_error(sharded):
    with pytest.raises(DataError, match="not one complete set"):
        FeatureStore.open([sharded[0], sharded[2]])
    with pytest.raises(DataError, match="shard-9-of-9.zarr: not found"):
        FeatureStore.open([sharded[0].with_name("shard-9-of-9.zarr")])
