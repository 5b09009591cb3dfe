"""Gaze-contingent sampling: one backbone pass per scene, each fixation reads the feature maps.

The second of the free-viewing issue's fixation features (the first are the crops of
:mod:`bergforge.features.fixation_crops`): a scene goes through the backbone once, through its
inference path (the weights' torchvision preset on the uint8 scene: resize of the shorter side,
centre crop), and every spatial layer's map ``[C, h, w]`` is kept; a fixation at scene pixel
``(x, y)`` reads each map at its place by bilinear interpolation (Gözükara et al. 2026, free-viewing
fMRI: one forward per scene instead of two per fixation).

- **Scene → map coordinates.** The preset scales the scene by ``s = resize / min(H, W)`` and
  crops the centre ``crop × crop``, so scene pixel ``x`` is input pixel ``x·s − (W·s − crop)/2``;
  the map covers the input as ``w`` equal cells (cell centres at ``(j + 0.5)·crop/w``), i.e.
  ``torch.nn.functional.grid_sample`` with ``align_corners=False``. A fixation the centre crop
  cut off reads the nearest border cell (``padding_mode="border"``); :func:`outside_crop` says
  which ones did.
- **Layers.** Convolutional nodes (``[B, C, h, w]``) as they are; transformer nodes
  (``[B, tokens, C]``) drop their leading class/register tokens down to a square grid of patch
  tokens. A flat node (``[B, C]``, e.g. a classifier) has no map: one clear error.
- **Streams and the last fixation** as the crops: ``dual`` reads the map at the fixation
  (foveal) and at the next target (parafoveal), ``foveal`` at the fixation only; a trial's last
  fixation under ``mask`` gets a zero parafoveal stream and a ``has_next`` column of 0 (1
  elsewhere), under ``drop`` it is left out (:func:`bergforge.features.fixation_crops.kept_rows`).

Features of one fixation: for each layer, ``C`` foveal values (then ``C`` parafoveal), layers in
the spec's order, then ``has_next`` (dual + mask), float32.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch.nn import functional

from bergforge.errors import ConfigError, DataError
from bergforge.features.fixation_crops import CropSpec, kept_rows

if TYPE_CHECKING:
    from bergforge.features.models import Backbone

#: class and register tokens a transformer node may hold before its patch tokens
MAX_EXTRA_TOKENS = 8


def preset_geometry(backbone: Backbone) -> tuple[int, int]:
    """``(resize, crop)`` of the backbone's torchvision preset; one clear error without one."""
    preset = backbone.inference_transform
    resize = getattr(preset, "resize_size", None)
    crop = getattr(preset, "crop_size", None)
    if preset is None or not resize or not crop:
        raise ConfigError(
            f"gaze sampling: backbone {backbone.spec.name!r} has no torchvision preset (resize, "
            "centre crop) to place fixations on its feature maps; expected a torchvision backbone"
        )
    return int(resize[0]), int(crop[0])


def spatial_map(output: torch.Tensor, layer: str) -> torch.Tensor:
    """``[B, C, h, w]`` of a node's output: conv maps as they are, patch tokens as a grid."""
    if output.ndim == 4:
        return output
    if output.ndim == 3:
        n = output.shape[1]
        for extra in range(min(n, MAX_EXTRA_TOKENS + 1)):
            side = math.isqrt(n - extra)
            if side > 0 and side * side == n - extra:
                grid = output[:, extra:, :].transpose(1, 2)
                return grid.reshape(output.shape[0], output.shape[2], side, side)
        raise DataError(
            f"gaze sampling: layer {layer!r} has {n} tokens; expected a square grid of patch "
            f"tokens after at most {MAX_EXTRA_TOKENS} class/register tokens"
        )
    raise DataError(
        f"gaze sampling: layer {layer!r} gives {tuple(output.shape)} (no spatial map); expected "
        "a convolutional map [B, C, h, w] or patch tokens [B, tokens, C]"
    )


def scene_maps(
    backbone: Backbone,
    images: np.ndarray,
    layers: list[str] | None = None,
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """Each layer's map ``[B, C, h, w]`` (float32, on the CPU) of uint8 scenes ``[B, 3, H, W]``:
    ``layers`` (each must have a map), or by default every layer of the spec that has one (the
    flat ones, such as a classifier's, are left out; one clear error when none is left)."""
    from bergforge.features.image_paths import inference_batch

    with torch.no_grad():
        out = backbone.module(inference_batch(backbone, images).to(device))
    if layers is None:
        layers = [name for name in backbone.spec.layers if out[name].ndim in (3, 4)]
        if not layers:
            raise ConfigError(
                f"gaze sampling: no layer of backbone {backbone.spec.name!r} has a spatial map "
                f"({list(backbone.spec.layers)}); expected a convolutional or transformer layer"
            )
    return {name: spatial_map(out[name], name).float().cpu() for name in layers}


def input_coordinates(
    x: np.ndarray, y: np.ndarray, scene_hw: tuple[int, int], resize: int, crop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scene pixels ``(x, y)`` → the network input's pixels (after the preset's resize and crop)."""
    h, w = scene_hw
    scale = resize / min(h, w)
    return (
        np.asarray(x, dtype=np.float64) * scale - (w * scale - crop) / 2,
        np.asarray(y, dtype=np.float64) * scale - (h * scale - crop) / 2,
    )


def outside_crop(
    x: np.ndarray, y: np.ndarray, scene_hw: tuple[int, int], resize: int, crop: int
) -> np.ndarray:
    """Which points fall outside the centre crop (they read the border cell)."""
    u, v = input_coordinates(x, y, scene_hw, resize, crop)
    return (u < 0) | (u > crop) | (v < 0) | (v > crop)


def sample_points(
    fmap: torch.Tensor,
    x: np.ndarray,
    y: np.ndarray,
    scene_hw: tuple[int, int],
    resize: int,
    crop: int,
) -> np.ndarray:
    """``[n, C]`` float32: the map ``[C, h, w]`` read bilinearly at scene points ``(x, y)``."""
    u, v = input_coordinates(x, y, scene_hw, resize, crop)
    grid = torch.from_numpy(np.stack([2 * u / crop - 1, 2 * v / crop - 1], axis=-1)).float()
    out = functional.grid_sample(
        fmap[None].float(), grid[None, None], "bilinear", "border", align_corners=False
    )
    return out[0, :, 0, :].T.numpy()


def gaze_features(
    table: pd.DataFrame,
    maps: Mapping[int, Mapping[str, torch.Tensor]],
    scene_hw: Mapping[int, tuple[int, int]],
    spec: CropSpec,
    resize: int,
    crop: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, features)``: the kept table rows (table order) and their features (module
    docstring). ``maps``: scene id → layer → ``[C, h, w]``; ``scene_hw``: scene id → (H, W)."""
    rows = kept_rows(table, spec)
    part = table.iloc[rows]
    missing = sorted(set(part["scene"].astype(int)) - set(maps))
    if missing:
        raise DataError(f"gaze sampling: scenes {missing[:5]} have no feature maps")
    layers = list(next(iter(maps.values())))
    width = sum(int(maps[int(part["scene"].iloc[0])][layer].shape[0]) for layer in layers)
    dual = spec.streams == "dual"
    indicator = dual and spec.last_fixation == "mask"
    out = np.zeros((len(part), width * (2 if dual else 1) + int(indicator)), dtype=np.float32)
    has_next = part["has_next"].to_numpy(dtype=bool)

    def read(layer_maps: Mapping[str, torch.Tensor], points: pd.DataFrame, x: str, y: str, hw):
        """``[n, width]``: every layer's map read at the points' ``x``, ``y`` columns."""
        xs, ys = points[x].to_numpy(), points[y].to_numpy()
        return np.concatenate(
            [sample_points(layer_maps[layer], xs, ys, hw, resize, crop) for layer in layers],
            axis=1,
        )

    for scene, where in part.groupby("scene", sort=False).indices.items():
        hw = scene_hw[int(scene)]
        out[where, :width] = read(maps[int(scene)], part.iloc[where], "x", "y", hw)
        ahead = where[has_next[where]]
        if dual and ahead.size:
            points = part.iloc[ahead]
            out[ahead, width : 2 * width] = read(maps[int(scene)], points, "next_x", "next_y", hw)
    if indicator:
        out[:, -1] = has_next
    return rows, out
