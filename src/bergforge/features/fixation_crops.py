"""Fixation crops, the seed's foveal + parafoveal dual stream: square crops in degrees of visual angle.

For each fixation, the **foveal** crop is centred on the fixation and the **parafoveal** crop on
the next fixation of the trial (the saccade target); both are ``size_deg`` degrees wide, i.e.
``side = max(1, round(geometry.extent_px(size_deg)))`` scene pixels, and are resized to the
backbone's input (``out_size``, bilinear, as torchvision's ``Resize`` on PIL images).

- **Placement.** A crop of ``side`` pixels around ``(x, y)`` covers columns
  ``round(x - side/2) … round(x - side/2) + side - 1`` (rows likewise), so a fixation at pixel
  centre ``(c + 0.5)`` of an odd side is the crop's centre pixel.
- **Borders.** Where a crop reaches past the scene it is padded with constant mid-grey
  (:data:`PAD_VALUE` = 128 in every channel, the mean of the 0–255 range, which the backbones'
  normalisation maps near zero), never by reflecting or stretching the scene.
- **The last fixation of a trial** has no next target. Rule ``"mask"`` (default): its parafoveal
  crop is all mid-grey and its ``has_next`` indicator is False, so a feature stage can zero that
  stream and append the indicator as a feature; rule ``"drop"``: the fixation is left out of the
  crops (the row selection is returned, so the table and responses are cut alike, never reordered).
- ``streams="foveal"`` gives the single-stream variant (no parafoveal crops).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from bergforge.datasets.screen import ScreenGeometry
from bergforge.errors import ConfigError, DataError

#: Constant fill of the crop area outside the scene (uint8, every channel)
PAD_VALUE = 128
STREAMS = ("dual", "foveal")
LAST_FIXATION_RULES = ("mask", "drop")


@dataclass(frozen=True)
class CropSpec:
    """Crop size in degrees, the backbone's input side, streams and the last-fixation rule."""

    size_deg: float = 2.0
    out_size: int = 224
    streams: str = "dual"
    last_fixation: str = "mask"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.size_deg) and self.size_deg > 0 and int(self.out_size) > 0):
            raise ConfigError(f"fixation crops: size_deg and out_size must be > 0 (got {self})")
        if self.streams not in STREAMS:
            raise ConfigError(
                f"fixation crops: streams {self.streams!r}; expected one of {STREAMS}"
            )
        if self.last_fixation not in LAST_FIXATION_RULES:
            raise ConfigError(
                f"fixation crops: last_fixation {self.last_fixation!r}; expected one of "
                f"{LAST_FIXATION_RULES}"
            )


def crop_side(size_deg: float, geometry: ScreenGeometry) -> int:
    """Side in scene pixels of a crop ``size_deg`` degrees wide (at least one pixel)."""
    return max(1, int(round(float(geometry.extent_px(size_deg)))))


def crop_box(x: float, y: float, side: int) -> tuple[int, int]:
    """Top-left (column, row) of the ``side``-pixel crop around ``(x, y)`` (may be off the scene)."""
    return int(round(x - side / 2)), int(round(y - side / 2))


def crop_pixels(image: np.ndarray, x: float, y: float, side: int) -> np.ndarray:
    """The ``(side, side, 3)`` uint8 crop of ``image`` (H, W, 3) around ``(x, y)``, padded with
    :data:`PAD_VALUE` where it leaves the scene."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(
            f"fixation crop: image of shape {image.shape} {image.dtype}; expected (H, W, 3) uint8"
        )
    h, w = image.shape[:2]
    left, top = crop_box(x, y, side)
    out = np.full((side, side, 3), PAD_VALUE, dtype=np.uint8)
    c0, c1 = max(left, 0), min(left + side, w)
    r0, r1 = max(top, 0), min(top + side, h)
    if c0 < c1 and r0 < r1:
        out[r0 - top : r1 - top, c0 - left : c1 - left] = image[r0:r1, c0:c1]
    return out


def resize(crop: np.ndarray, out_size: int) -> np.ndarray:
    """``crop`` resized to ``(out_size, out_size, 3)`` (PIL bilinear; unchanged if already that size)."""
    if crop.shape[0] == out_size and crop.shape[1] == out_size:
        return crop
    resized = Image.fromarray(crop, mode="RGB").resize((out_size, out_size), Image.BILINEAR)
    return np.asarray(resized)


def mask_crop(out_size: int) -> np.ndarray:
    """The parafoveal crop of a fixation with no next target: all :data:`PAD_VALUE`."""
    return np.full((out_size, out_size, 3), PAD_VALUE, dtype=np.uint8)


def kept_rows(table: pd.DataFrame, spec: CropSpec) -> np.ndarray:
    """Positions of the table rows that get crops: all, or those with a next target under
    ``"drop"`` with two streams. Always in table order."""
    if spec.streams == "dual" and spec.last_fixation == "drop":
        return np.flatnonzero(table["has_next"].to_numpy(dtype=bool))
    return np.arange(len(table))


@dataclass(frozen=True)
class FixationCrops:
    """The crops of one fixation: ``foveal`` and (dual stream) ``parafoveal``, plus ``has_next``."""

    row: int
    foveal: np.ndarray
    parafoveal: np.ndarray | None
    has_next: bool


def fixation_crops(
    image: np.ndarray, fixation: pd.Series, spec: CropSpec, geometry: ScreenGeometry, row: int = 0
) -> FixationCrops:
    """The crops of one fixation (a row of the canonical fixation table) on its scene ``image``."""
    side = crop_side(spec.size_deg, geometry)
    foveal = resize(
        crop_pixels(image, float(fixation["x"]), float(fixation["y"]), side), spec.out_size
    )
    has_next = bool(fixation["has_next"])
    parafoveal = None
    if spec.streams == "dual":
        if has_next:
            crop = crop_pixels(image, float(fixation["next_x"]), float(fixation["next_y"]), side)
            parafoveal = resize(crop, spec.out_size)
        else:
            parafoveal = mask_crop(spec.out_size)
    return FixationCrops(row=row, foveal=foveal, parafoveal=parafoveal, has_next=has_next)


def iter_crops(
    table: pd.DataFrame, images: dict[int, np.ndarray], spec: CropSpec, geometry: ScreenGeometry
) -> Iterator[FixationCrops]:
    """Crops of every kept row (:func:`kept_rows`) in table order; ``images`` maps scene id → image."""
    for row in kept_rows(table, spec):
        fixation = table.iloc[int(row)]
        scene = int(fixation["scene"])
        if scene not in images:
            raise DataError(f"fixation crops: row {row} shows scene {scene}, which has no image")
        yield fixation_crops(images[scene], fixation, spec, geometry, int(row))
