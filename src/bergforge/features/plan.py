"""Which images go into which shard: shard counts, row ranges, the shard plan and the manifest.

Shard ``i`` of ``n`` (1-based) holds rows ``[(i-1)·shard_size, min(i·shard_size, n_images))`` of
``stimuli.tsv``; ``n = ceil(n_images / shard_size)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.atomic import save_text
from bergforge.errors import DataError
from bergforge.preprocess.stimuli import read_stimuli, stimuli_sha256


def shard_count(n_images: int, shard_size: int) -> int:
    """Number of shards of at most ``shard_size`` images."""
    return max(1, math.ceil(n_images / shard_size))


def shard_rows(shard: int, n_shards: int, n_images: int, shard_size: int) -> range:
    """Rows of the stimulus table that shard ``shard`` of ``n_shards`` holds."""
    expected = shard_count(n_images, shard_size)
    if n_shards != expected or not 1 <= shard <= n_shards:
        raise DataError(
            f"shard {shard}-of-{n_shards} does not fit {n_images} images at shard_size "
            f"{shard_size}; expected shards 1…{expected}-of-{expected}"
        )
    return range((shard - 1) * shard_size, min(shard * shard_size, n_images))


def shard_name(shard: int, n_shards: int) -> str:
    """File name of a shard store."""
    return f"shard-{shard}-of-{n_shards}.zarr"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``shard_plan.json`` or ``features.json`` (indent 1, sorted keys) atomically."""
    save_text(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def write_shard_plan(stimuli: Path, shard_size: int, out: Path) -> dict[str, Any]:
    """The shard plan of a dataset (the checkpoint that fixes how many shards exist)."""
    table = read_stimuli(stimuli)
    plan = {
        "n_images": len(table),
        "shard_size": shard_size,
        "n_shards": shard_count(len(table), shard_size),
        "stimuli_sha256": stimuli_sha256(stimuli),
    }
    write_json(out, plan)
    return plan


def planned_shards(plan_path: Path | str, folder: str) -> list[str]:
    """Paths of every shard store a plan calls for, under ``folder``."""
    plan = json.loads(Path(plan_path).read_text())
    n = plan["n_shards"]
    return [f"{folder}/{shard_name(i, n)}" for i in range(1, n + 1)]


def shard_input_function(checkpoint):
    """Input function of the manifest rule: the shards that ``checkpoint``'s plan calls for."""

    def shards(wildcards) -> list[str]:
        plan = checkpoint.get(dataset=wildcards.dataset).output[0]
        return planned_shards(plan, f"results/features/{wildcards.dataset}/{wildcards.backbone}")

    return shards


def feature_rows(stimuli: pd.DataFrame, split: str, n_images: int) -> np.ndarray:
    """Row of the feature matrix (= row of stimuli.tsv) of each image of ``split``, by index."""
    part = stimuli[stimuli["split"] == split]
    index = part["index"].to_numpy(dtype=np.int64)
    if len(part) != n_images or not np.array_equal(np.sort(index), np.arange(n_images)):
        raise DataError(
            f"stimuli.tsv lists {len(part)} {split} images with indices that do not match the "
            f"prepared {split} array of {n_images} images; expected indices 0…{n_images - 1}"
        )
    rows = np.empty(n_images, dtype=np.int64)
    rows[index] = part.index.to_numpy(dtype=np.int64)
    return rows
