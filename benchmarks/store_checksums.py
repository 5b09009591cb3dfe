"""What verified stores cost in read time: checksummed reads against plain Zarr reads.

Writes a demo-sized feature store (1,028 images × 205,672 AlexNet features, float32, 9 shards of
128 rows, chunked as the features stage chunks them) and a demo-sized MEG prepared store (1,008
training images × 1 repetition and 20 test images × 4 repetitions, 271 channels × 281 times,
8 MB chunks), seals both (``checksums.json``), then times the encoding stage's reads of them:

- features: passes over every column in 8,192-column blocks for all rows (the access pattern of
  the scaler and PCA; a randomized PCA fit makes 5 such passes, reading each chunk once per block
  that overlaps its layer);
- prepared: the mean responses of every training image, then of every test image
  (``PreparedResponses.batches``, the fit and evaluation's reads).

Each read runs four ways: ``plain`` (Zarr's LocalStore, no checks: bergforge before checksums),
``verified`` (what bergforge does: names and sizes checked at open, each chunk hashed the first
time it is read), ``every read`` (each chunk hashed every time it is read) and ``all at open``
(every file hashed when the store is opened, then plain reads). The page cache is warm (the stores
were just written), the worst case for the checks: from a cold disk the reads take longer and the
hashing the same. Best of ``--repeat`` runs; prints the wall and CPU times (CPU time is steadier
on a shared machine) and their ratio to ``plain``.

    .venv/bin/python benchmarks/store_checksums.py              # ~1.2 GB in the current folder, ~10 min
    .venv/bin/python benchmarks/store_checksums.py --images 300 # a quick run
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import zarr

from bergforge import store_manifest
from bergforge.features import store as feature_store
from bergforge.features.writer import chunk_rows
from bergforge.models.linear.matrix import iter_column_blocks
from bergforge.preprocess import responses as prepared_module
from bergforge.preprocess.store import images_per_chunk
from bergforge.store_checksums import check_store, seal_store, sha256_file

ALEXNET = {
    "features.2": 46656,
    "features.5": 32448,
    "features.7": 64896,
    "features.9": 43264,
    "features.12": 9216,
    "classifier.2": 4096,
    "classifier.5": 4096,
    "classifier.6": 1000,
}


def write_feature_shards(folder: Path, n_images: int, shard_size: int) -> list[Path]:
    """Sealed shards like the features stage writes them (uncompressed float32, 32-row chunks)."""
    rng = np.random.default_rng(0)
    rows = chunk_rows(shard_size, max(ALEXNET.values()), 4, 32)
    starts = list(range(0, n_images, shard_size))
    paths = []
    for k, start in enumerate(starts, 1):
        stop = min(start + shard_size, n_images)
        path = folder / f"shard-{k}-of-{len(starts)}.zarr"
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        group.attrs.update(
            {
                "layers": list(ALEXNET),
                "layer_sizes": list(ALEXNET.values()),
                "rows": [start, stop],
                "shard": [k, len(starts)],
                "image_ids": [f"img{i}" for i in range(start, stop)],
            }
        )
        for layer, size in ALEXNET.items():
            array = group.create_array(
                layer,
                shape=(stop - start, size),
                chunks=(min(rows, stop - start), size),
                dtype="float32",
                compressors=None,
                fill_value=0,
                config={"write_empty_chunks": True},
            )
            array[:] = rng.standard_normal((stop - start, size), dtype=np.float32)
        paths.append(path)
    return paths


def write_prepared(path: Path, n_train: int, n_test: int, shape: tuple[int, int]) -> None:
    """A sealed MEG-like prepared store ``[image, repetition, channel, time]``, 8 MB chunks."""
    rng = np.random.default_rng(1)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.attrs.update({"modality": "meg", "subject": 1, "dims": ["image", "repetition", "c", "t"]})
    for name, n, reps in (("train", n_train, 1), ("test", n_test, 4)):
        step = images_per_chunk(reps, *shape, 8.0)
        array = group.create_array(
            name, shape=(n, reps, *shape), chunks=(step, reps, *shape), dtype="float32"
        )
        for s in range(0, n, 64):
            e = min(s + 64, n)
            array[s:e] = rng.standard_normal((e - s, reps, *shape), dtype=np.float32)
        group.create_array(f"{name}_session", data=np.ones((n, reps), dtype=np.int16))
    seal_store(path)


class _EveryRead(store_manifest.VerifiedStore):
    """Hashes every read (the verified-file memo forgotten before each)."""

    def read_verified(self, key: str) -> bytes | None:
        self._verified.clear()
        return super().read_verified(key)


def _plain(path, label):
    return zarr.open_group(str(path), mode="r")


def _all_at_open(path, label):
    listed = check_store(path, label)
    for key, (_size, digest) in listed.items():
        if sha256_file(Path(path) / key) != digest:
            raise RuntimeError(f"{path}/{key} does not match")
    return zarr.open_group(str(path), mode="r")


@contextmanager
def mode(name: str):
    """Readers open stores the way ``name`` says for the duration of the block."""
    opener = {"plain": _plain, "all at open": _all_at_open}.get(name)
    saved = (
        feature_store.open_verified_group,
        prepared_module.open_verified_group,
        store_manifest.VerifiedStore,
    )
    if opener:
        feature_store.open_verified_group = prepared_module.open_verified_group = opener
    elif name == "every read":
        store_manifest.VerifiedStore = _EveryRead
    try:
        yield
    finally:
        (
            feature_store.open_verified_group,
            prepared_module.open_verified_group,
            store_manifest.VerifiedStore,
        ) = saved


def best_of(repeat: int, run: Callable[[], float]) -> tuple[float, float]:
    """The shortest wall time and the shortest CPU time (all threads) of ``repeat`` runs."""
    wall, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        checksum = run()
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    best_of.checksums.add(round(float(checksum), 2))
    return min(wall), min(cpu)


best_of.checksums = set()


def read_features(shards: list[Path], passes: int) -> float:
    store = feature_store.FeatureStore.open(shards)
    rows = np.arange(store.shape[0])
    total = 0.0
    for _ in range(passes):
        for _start, _stop, block in iter_column_blocks(store, rows, 8192):
            total += float(block[:, :3].sum())
    return total


def read_prepared(path: Path) -> float:
    responses = prepared_module.PreparedResponses(path)
    total = 0.0
    for split in ("train", "test"):
        n, reps = responses.shape(split)
        for _pos, y in responses.batches(split, np.arange(n), np.arange(reps)):
            total += float(y[:, :3].sum())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1028)
    parser.add_argument("--shard-size", type=int, default=128)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    modes = ["plain", "verified", "every read", "all at open"]
    with tempfile.TemporaryDirectory(prefix="store_checksums-", dir=".") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        shards = write_feature_shards(folder / "features", args.images, args.shard_size)
        written = time.perf_counter() - began
        began = time.perf_counter()
        for shard in shards:
            seal_store(shard)
        sealed = time.perf_counter() - began
        size = sum(f.stat().st_size for s in shards for f in s.rglob("*") if f.is_file())
        print(
            f"features: {args.images} × {sum(ALEXNET.values())} float32 in {len(shards)} shards, "
            f"{size / 1e6:.0f} MB; written in {written:.1f} s, sealed in {sealed:.2f} s"
        )
        prepared = folder / "sub-01.zarr"
        n_train = max(1, args.images - 20)
        write_prepared(prepared, n_train, 20, (271, 281))
        psize = sum(f.stat().st_size for f in prepared.rglob("*") if f.is_file())
        print(f"prepared: {n_train} + 20 images × 271 × 281 float32, {psize / 1e6:.0f} MB")

        rows = []
        for label, run in (
            ("features, 1 pass", lambda: read_features(shards, 1)),
            (f"features, {args.passes} passes", lambda: read_features(shards, args.passes)),
            ("prepared, train + test", lambda: read_prepared(prepared)),
        ):
            best_of.checksums = set()
            times = {}
            for name in modes:
                with mode(name):
                    times[name] = best_of(args.repeat, run)
            assert len(best_of.checksums) == 1, f"{label}: the modes read different values"
            rows.append((label, times))
        for k, what in enumerate(("wall time", "CPU time (all threads)")):
            print(f"\n{what:<24}" + "".join(f"{m:>22}" for m in modes))
            for label, times in rows:
                base = times["plain"][k]
                cells = [f"{times[m][k]:7.2f} s ({times[m][k] / base:4.2f}×)" for m in modes]
                print(f"{label:<24}" + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
