"""Screen geometry of a free-viewing study: degrees of visual angle ↔ pixels of the scene image.

Given either ``pixels_per_degree`` directly (a linear scale, as many eye-tracking papers report
it) or the viewing ``distance_cm`` with the screen's width in cm and in pixels (the exact
geometry: an extent of ``a`` degrees centred on the line of sight spans ``2·d·tan(a/2)`` cm, a
point ``e`` degrees off it lies ``d·tan(e)`` cm away). ``image_scale`` is the number of scene-image
pixels per screen pixel (1 when the scene is shown at its native size), so every result is in
pixels of the stored scene image, which is what crops are cut from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bergforge.errors import ConfigError


@dataclass(frozen=True)
class ScreenGeometry:
    """How large a degree of visual angle is on the scene image (see the module docstring)."""

    distance_cm: float | None = None
    pixels_per_degree: float | None = None
    screen_width_cm: float | None = None
    screen_width_px: int | None = None
    image_scale: float = 1.0

    def __post_init__(self) -> None:
        direct = self.pixels_per_degree is not None
        screen = None not in (self.distance_cm, self.screen_width_cm, self.screen_width_px)
        if direct == screen:
            raise ConfigError(
                "screen geometry: give either pixels_per_degree, or distance_cm with "
                f"screen_width_cm and screen_width_px (got {self})"
            )
        values = [self.image_scale]
        values += (
            [self.pixels_per_degree]
            if direct
            else [self.distance_cm, self.screen_width_cm, self.screen_width_px]
        )
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
            raise ConfigError(f"screen geometry: every value must be a number > 0 (got {self})")

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> ScreenGeometry:
        """From a config mapping with the field names of this class; unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ConfigError(
                f"screen geometry: unknown keys {unknown}; expected some of {sorted(known)}"
            )
        return cls(**dict(entry))

    @property
    def _px_per_cm(self) -> float:
        assert self.screen_width_px is not None and self.screen_width_cm is not None
        return self.screen_width_px / self.screen_width_cm * self.image_scale

    def extent_px(self, degrees: float | np.ndarray) -> float | np.ndarray:
        """Image pixels spanned by an extent of ``degrees`` centred on the line of sight."""
        deg = np.asarray(degrees, dtype=float)
        if self.pixels_per_degree is not None:
            out = deg * self.pixels_per_degree * self.image_scale
        else:
            out = 2 * self.distance_cm * np.tan(np.radians(deg) / 2) * self._px_per_cm
        return float(out) if out.ndim == 0 else out

    def extent_deg(self, pixels: float | np.ndarray) -> float | np.ndarray:
        """The inverse of :meth:`extent_px`."""
        px = np.asarray(pixels, dtype=float)
        if self.pixels_per_degree is not None:
            out = px / (self.pixels_per_degree * self.image_scale)
        else:
            out = np.degrees(2 * np.arctan(px / self._px_per_cm / (2 * self.distance_cm)))
        return float(out) if out.ndim == 0 else out

    def offset_px(self, degrees: float | np.ndarray) -> float | np.ndarray:
        """Image pixels from the line of sight to a point ``degrees`` off it (signed)."""
        deg = np.asarray(degrees, dtype=float)
        if self.pixels_per_degree is not None:
            out = deg * self.pixels_per_degree * self.image_scale
        else:
            out = self.distance_cm * np.tan(np.radians(deg)) * self._px_per_cm
        return float(out) if out.ndim == 0 else out

    def offset_deg(self, pixels: float | np.ndarray) -> float | np.ndarray:
        """The inverse of :meth:`offset_px`."""
        px = np.asarray(pixels, dtype=float)
        if self.pixels_per_degree is not None:
            out = px / (self.pixels_per_degree * self.image_scale)
        else:
            out = np.degrees(np.arctan(px / self._px_per_cm / self.distance_cm))
        return float(out) if out.ndim == 0 else out
