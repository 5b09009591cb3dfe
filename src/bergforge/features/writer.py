"""Writing one feature shard: decode, transform, forward and store, under a temporary name.

The images come from an :class:`~bergforge.features.sources.ImageSource` (files, or an NSD-style
HDF5 brick) or a list of files; everything after decoding is the same code path.

A shard is a Zarr v3 group with one array ``[image, feature]`` per layer, chunked along images
(chunks a multiple of the batch size, so every write fills whole chunks) and never across layers.
It is the one writer of the shards (the reader is :mod:`bergforge.features.store`): each is built
as ``.<name>.building``, sealed with the checksums of its files
(:func:`bergforge.store_checksums.seal_store`, written last) and swapped in when complete
(:func:`bergforge.atomic.atomic_folder`), so an interrupted job leaves nothing that looks finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
import zarr

from bergforge import __version__
from bergforge.atomic import atomic_folder
from bergforge.errors import ConfigError
from bergforge.features.extract import iter_batches, layer_sizes
from bergforge.features.models import Backbone
from bergforge.features.sources import ImageSource
from bergforge.store_checksums import seal_store

log = logging.getLogger(__name__)

#: Target size of one chunk of the widest layer (bytes).
CHUNK_BYTES = 8 * 2**20
DTYPES = {"float32": np.float32, "float16": np.float16}


@dataclass(frozen=True)
class ExtractionSettings:
    """The ``features`` section of the config (shard size, dtype, device, batches, workers)."""

    shard_size: int = 1000
    dtype: str = "float32"
    device: str = "auto"
    batch_size: int = 32
    workers: int | None = None  # decode threads; None → the job's threads
    compression: str = "none"

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> ExtractionSettings:
        """Settings from a config section; unknown keys or bad values are a ConfigError."""
        section = dict(section or {})
        known = set(cls.__dataclass_fields__) | {"threads", "mem_mb"}
        unknown = set(section) - known
        if unknown:
            raise ConfigError(f"config: unknown key(s) {sorted(unknown)} under features")
        section.pop("threads", None)
        section.pop("mem_mb", None)
        settings = cls(**section)
        if settings.dtype not in DTYPES:
            raise ConfigError(f"config: features.dtype {settings.dtype!r}; expected {list(DTYPES)}")
        if settings.compression not in ("none", "zstd"):
            raise ConfigError(
                f"config: features.compression {settings.compression!r}; expected none or zstd"
            )
        return settings


def chunk_rows(n_rows: int, widest: int, itemsize: int, batch_size: int) -> int:
    """Rows per chunk: a multiple of ``batch_size`` near :data:`CHUNK_BYTES` for the widest layer."""
    batches = max(1, CHUNK_BYTES // max(1, batch_size * widest * itemsize))
    return max(1, min(n_rows, batches * batch_size))


def shard_attributes(
    backbone: Backbone,
    sizes: dict[str, int],
    rows: range,
    image_ids: Sequence[str],
    shard: tuple[int, int],
    settings: ExtractionSettings,
    runtime: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a shard records about itself (no timestamps: two runs with the same settings give
    identical bytes); ``runtime`` is how it was computed (device, threads, batch size)."""
    return {
        "backbone": backbone.spec.name,
        "spec": backbone.spec.as_dict(),
        "layers": list(sizes),
        "nodes": list(backbone.spec.nodes),
        "layer_sizes": list(sizes.values()),
        "n_features": int(sum(sizes.values())),
        "shape": [len(rows), int(sum(sizes.values()))],
        "rows": [rows.start, rows.stop],
        "image_ids": [str(i) for i in image_ids],
        "shard": list(shard),
        "dtype": settings.dtype,
        "token_aggregation": backbone.spec.token_aggregation,
        "transform": repr(backbone.transform),
        "weights": backbone.weights_identity,
        "software": {
            "bergforge": __version__,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        },
        **({"runtime": runtime} if runtime else {}),
    }


def _create_arrays(group, sizes: dict[str, int], n_rows: int, settings: ExtractionSettings):
    dtype = DTYPES[settings.dtype]
    rows = chunk_rows(n_rows, max(sizes.values()), np.dtype(dtype).itemsize, settings.batch_size)
    compressors = None if settings.compression == "none" else zarr.codecs.ZstdCodec(level=1)
    return {
        layer: group.create_array(
            layer,
            shape=(n_rows, size),
            chunks=(rows, size),
            dtype=dtype,
            compressors=compressors,
            fill_value=0,
            dimension_names=("image", "feature"),
            # every chunk is written: skipping all-zero chunks costs a full scan of each chunk
            config={"write_empty_chunks": True},
        )
        for layer, size in sizes.items()
    }, rows


def write_shard(
    backbone: Backbone,
    images: ImageSource | Sequence[Path],
    image_ids: Sequence[str],
    rows: range,
    shard: tuple[int, int],
    out: Path,
    settings: ExtractionSettings,
    workers: int,
    runtime: dict[str, Any] | None = None,
) -> Path:
    """Extract ``images`` (rows ``rows`` of the stimulus table) into the shard store ``out``.

    ``runtime`` (the device, threads and batch size used) is stored in the shard's attributes.
    """
    out = Path(out)
    with atomic_folder(out) as partial:
        written = _fill(
            backbone, images, image_ids, rows, shard, partial, settings, workers, runtime
        )
        seal_store(partial)  # last: a shard without checksums.json is incomplete
    log.info("%s: %d images written", out, written)
    return out


def _fill(
    backbone: Backbone,
    images: ImageSource | Sequence[Path],
    image_ids: Sequence[str],
    rows: range,
    shard: tuple[int, int],
    partial: Path,
    settings: ExtractionSettings,
    workers: int,
    runtime: dict[str, Any] | None = None,
) -> int:
    """Write every row into the store at ``partial``; returns the number of rows written."""
    sizes = layer_sizes(backbone)
    group = zarr.open_group(str(partial), mode="w", zarr_format=3)
    group.attrs.update(shard_attributes(backbone, sizes, rows, image_ids, shard, settings, runtime))
    arrays, per_chunk = _create_arrays(group, sizes, len(rows), settings)
    first_layer = next(iter(sizes))
    buffered: list[dict[str, np.ndarray]] = []
    written, began = 0, time.perf_counter()
    batches = iter_batches(backbone, images, settings.batch_size, workers, DTYPES[settings.dtype])
    for batch in batches:
        buffered.append(batch)
        n_buffered = sum(len(b[first_layer]) for b in buffered)
        if n_buffered >= per_chunk or written + n_buffered == len(rows):
            for layer, array in arrays.items():
                parts = [b[layer] for b in buffered]
                array[written : written + n_buffered] = (
                    parts[0] if len(parts) == 1 else np.concatenate(parts)
                )
            written += n_buffered
            buffered.clear()
    if written != len(rows):
        raise RuntimeError(f"shard {partial}: wrote {written} of {len(rows)} rows")
    elapsed = time.perf_counter() - began
    log.info("%d images in %.1f s (%.1f images/s)", written, elapsed, written / max(elapsed, 1e-9))
    return written
