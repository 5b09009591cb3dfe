"""Fixation features through a backbone, the free-viewing issue's two ways, as equal-width vectors.

- :func:`crop_features` (way a, the seed's crops): the foveal and parafoveal crops of
  :mod:`bergforge.features.fixation_crops` through the backbone (two forwards per fixation),
  each crop's ``layer`` map averaged over its spatial cells (``C`` values per stream);
- :func:`gaze_features_of` (way b, :mod:`bergforge.features.gaze_sampling`): one forward per
  scene, the map read at the fixation and at its next target (``C`` values per stream).

Both give, per kept row (table order), ``C`` foveal values, ``C`` parafoveal values (zeros
without a next target) and ``has_next`` under the dual stream with ``mask``, float32.
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from bergforge.datasets.screen import ScreenGeometry
from bergforge.errors import DataError
from bergforge.features.fixation_crops import CropSpec, iter_crops, kept_rows
from bergforge.features.gaze_sampling import (
    gaze_features,
    preset_geometry,
    scene_maps,
    spatial_map,
)

if TYPE_CHECKING:
    from bergforge.features.models import Backbone


def module_device(backbone: Backbone) -> str:
    """The device the backbone's weights are on (``cpu`` for a module without any)."""
    weights = next(iter(backbone.module.parameters()), None)
    return "cpu" if weights is None else str(weights.device)


def _pooled(backbone: Backbone, crops: list[np.ndarray], layer: str, batch: int) -> np.ndarray:
    """``[n, C]``: each uint8 crop's ``layer`` map averaged over its cells."""
    from bergforge.features.image_paths import inference_batch

    device = module_device(backbone)
    out = []
    with torch.no_grad():
        for start in range(0, len(crops), batch):
            images = np.stack(crops[start : start + batch]).transpose(0, 3, 1, 2)
            inputs = inference_batch(backbone, images).to(device)
            maps = spatial_map(backbone.module(inputs)[layer], layer)
            out.append(maps.float().mean(dim=(2, 3)).cpu().numpy())
    return np.concatenate(out)


#: fixations whose crops are made and sent through the backbone at a time (their crops, 224 px ×
#: 2 streams, are ~150 MB; a subject's ~40,000 fixations' crops would be ~12 GB at once)
CROP_CHUNK = 512


def crop_features(
    backbone: Backbone,
    table: pd.DataFrame,
    images: dict[int, np.ndarray],
    spec: CropSpec,
    geometry: ScreenGeometry,
    layer: str,
    batch: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, features)`` of way (a) (module docstring); ``images``: scene id → (H, W, 3).
    Crops are made and pooled :data:`CROP_CHUNK` fixations at a time."""
    crops = iter_crops(table, images, spec, geometry)
    rows, parts = [], []
    while chunk := list(islice(crops, CROP_CHUNK)):
        rows.append(np.array([c.row for c in chunk], dtype=np.int64))
        parts.append(_chunk_features(backbone, chunk, spec, layer, batch))
    if not parts:
        raise DataError(
            f"fixation crops: no fixation is kept (rule {spec.last_fixation!r}); expected at "
            "least one"
        )
    return np.concatenate(rows), np.concatenate(parts)


def _chunk_features(
    backbone: Backbone, chunk: list, spec: CropSpec, layer: str, batch: int
) -> np.ndarray:
    foveal = _pooled(backbone, [c.foveal for c in chunk], layer, batch)
    if spec.streams != "dual":
        return foveal.astype(np.float32)
    has_next = np.array([c.has_next for c in chunk])
    parafoveal = np.zeros_like(foveal)
    if has_next.any():
        ahead = [c.parafoveal for c in chunk if c.has_next]
        parafoveal[has_next] = _pooled(backbone, ahead, layer, batch)
    parts = [foveal, parafoveal]
    if spec.last_fixation == "mask":
        parts.append(has_next[:, None].astype(np.float32))
    return np.concatenate(parts, axis=1).astype(np.float32)


def gaze_features_of(
    backbone: Backbone,
    table: pd.DataFrame,
    images: dict[int, np.ndarray],
    spec: CropSpec,
    layer: str,
    batch: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, features)`` of way (b): one forward per scene shown in the kept rows."""
    resize, crop = preset_geometry(backbone)
    scenes = sorted(set(table.iloc[kept_rows(table, spec)]["scene"].astype(int)))
    maps: dict[int, dict[str, torch.Tensor]] = {}
    for start in range(0, len(scenes), batch):
        part = scenes[start : start + batch]
        got = scene_maps(
            backbone,
            np.stack([images[s] for s in part]).transpose(0, 3, 1, 2),
            [layer],
            module_device(backbone),
        )
        maps |= {s: {layer: got[layer][k]} for k, s in enumerate(part)}
    hw = {s: images[s].shape[:2] for s in scenes}
    return gaze_features(table, maps, hw, spec, resize, crop)
