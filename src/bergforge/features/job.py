"""The shard job of the workflow, as a plain function (scripts stay thin); the manifest job is
:mod:`bergforge.features.manifest_job` (no torch: it only reads the shards)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from bergforge.features.models import build_backbone, resolve_device
from bergforge.features.plan import shard_rows
from bergforge.features.registry import get_spec
from bergforge.features.sources import stimulus_images
from bergforge.features.writer import ExtractionSettings, write_shard
from bergforge.logs import log_runtime
from bergforge.preprocess.stimuli import read_stimuli

log = logging.getLogger(__name__)


def extract_shard(
    stimuli: Path | str,
    backbone: str,
    overrides: dict[str, Any] | None,
    features: dict[str, Any] | None,
    shard: int,
    n_shards: int,
    out: Path | str,
    threads: int = 1,
    base_dir: Path | str = ".",
    image_file: Path | str | None = None,
    runtime: dict[str, Any] | None = None,
) -> Path:
    """Extract shard ``shard``-of-``n_shards`` of the images in ``stimuli`` into ``out``.

    Images are the rows' files (relative to ``base_dir``) or, for an NSD-style table (empty
    ``file``, an ``image_73k_id`` column), rows of ``image_file``'s ``imgBrick``. ``features``
    holds the result settings of config ``features``, ``runtime`` its runtime keys (device,
    batch_size, workers, mem_mb); the values used are logged and kept in the shard's attributes.
    """
    runtime = dict(runtime or {})
    settings = ExtractionSettings.from_config({**(features or {}), **runtime})
    spec = get_spec(backbone, overrides)
    table = read_stimuli(stimuli)
    rows = shard_rows(shard, n_shards, len(table), settings.shard_size)
    part = table.iloc[rows.start : rows.stop]
    with stimulus_images(part, base_dir, image_file) as images:
        torch.set_num_threads(max(1, threads))
        device = resolve_device(settings.device)
        log.info("%s shard %d-of-%d: rows %s on %s", backbone, shard, n_shards, rows, device)
        model = build_backbone(spec, device)
        workers = settings.workers or max(1, threads)
        used = {
            "threads": max(1, threads),
            "device": str(device),
            "device_setting": settings.device,
            "batch_size": settings.batch_size,
            "workers": workers,
            **({"mem_mb": runtime["mem_mb"]} if "mem_mb" in runtime else {}),
        }
        log_runtime(used, log)
        return write_shard(
            model,
            images,
            list(part["image_id"]),
            rows,
            (shard, n_shards),
            Path(out),
            settings,
            workers,
            runtime=used,
        )
