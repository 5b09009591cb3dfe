"""The job of rule ``fixation_features``: one subject's fixation features by one route.

Reads the subject's canonical fixation table (:func:`bergforge.datasets.avs_fixations.read_fixation_table`
with the dataset's column mapping), the scenes it shows from ``nsd_stimuli.hdf5`` (``imgBrick``
rows, only those shown), builds the backbone with the one ``layer`` kept, and writes
:mod:`bergforge.features.fixation_store` with the dual stream (the foveal-only stream is its first
columns). The route's cost (wall seconds of the backbone work, images through the backbone and the
job's peak RSS) is recorded in the store for the leaderboard.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.datasets.avs_fixations import FixationTableSpec, read_fixation_table
from bergforge.errors import ConfigError, DataError
from bergforge.features.fixation_crops import CropSpec, kept_rows
from bergforge.features.fixation_store import write_fixation_features

log = logging.getLogger(__name__)
ROUTES = ("crops", "gaze")


def read_scenes(path: Path | str, ids: list[int]) -> dict[int, np.ndarray]:
    """Scene id (row of ``imgBrick``) → ``(H, W, 3)`` uint8, for ``ids`` only."""
    import h5py

    with h5py.File(path, "r") as f:
        if "imgBrick" not in f:
            raise DataError(f"{path}: no 'imgBrick' dataset (NSD's stimulus file)")
        brick = f["imgBrick"]
        missing = [i for i in ids if not 0 <= i < brick.shape[0]]
        if missing:
            raise DataError(
                f"{path}: scenes {missing[:5]} are not rows of imgBrick (0…{brick.shape[0] - 1})"
            )
        return {i: np.asarray(brick[i], dtype=np.uint8) for i in sorted(ids)}


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def fixation_features_job(
    table_path: Path | str,
    table_spec: dict[str, Any],
    stimuli: Path | str,
    backbone: str,
    overrides: dict[str, Any],
    layer: str,
    route: str,
    crop: dict[str, Any],
    out: Path | str,
    device: str = "cpu",
    threads: int = 1,
) -> Path:
    """Compute and write one subject's features (module docstring); returns ``out``."""
    import torch

    from bergforge.features.fixation_features import crop_features, gaze_features_of
    from bergforge.features.models import build_backbone, resolve_device
    from bergforge.features.registry import get_spec

    if route not in ROUTES:
        raise ConfigError(f"free_viewing.routes: {route!r}; expected one of {list(ROUTES)}")
    torch.set_num_threads(max(1, int(threads)))
    spec = FixationTableSpec.from_config(table_spec)
    table = read_fixation_table(table_path, spec)
    crops = CropSpec(
        size_deg=float(crop.get("crop_deg", 2.0)),
        streams="dual",
        last_fixation=str(crop.get("last_fixation", "mask")),
    )
    rows = kept_rows(table, crops)
    scenes = read_scenes(stimuli, sorted(set(table.iloc[rows]["scene"].astype(int))))
    device = resolve_device(device)
    model = build_backbone(get_spec(backbone, {**overrides, "layers": [layer]}), device)
    start = time.perf_counter()
    if route == "crops":
        if spec.geometry is None:
            raise ConfigError(
                "free_viewing.table.screen: the crop route needs the screen geometry "
                "(pixels_per_degree, or distance_cm + screen_width_cm + screen_width_px)"
            )
        kept, features = crop_features(model, table, scenes, crops, spec.geometry, layer)
        forwards = int(len(kept) + table.iloc[kept]["has_next"].sum())
    else:
        kept, features = gaze_features_of(model, table, scenes, crops, layer)
        forwards = len(scenes)
    seconds = time.perf_counter() - start
    if not np.array_equal(kept, rows):
        raise DataError(f"{table_path}: the {route} route kept other rows than the table's rule")
    if crops.last_fixation == "drop":  # every kept row has a next target: the indicator is 1
        features = np.concatenate([features, np.ones((len(kept), 1), np.float32)], axis=1)
    log.info(
        "%s %s: %d fixations, %d features, %d forwards in %.1f s",
        backbone,
        route,
        len(kept),
        features.shape[1],
        forwards,
        seconds,
    )
    return write_fixation_features(
        out,
        kept,
        features,
        {
            "backbone": backbone,
            "layer": layer,
            "route": route,
            "crop_deg": crops.size_deg,
            "last_fixation": crops.last_fixation,
            "n_table_rows": len(table),
            "seconds": seconds,
            "forwards": forwards,
            "peak_rss_mb": peak_rss_mb(),
            "device": device,
        },
    )
