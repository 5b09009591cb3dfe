"""Image transforms: torchvision's ImageNet presets, applied to PIL images without torch threads.

:class:`PresetTransform` gives bit-identical tensors to ``ImageClassification(pil_image)`` (PIL
resize and centre crop, then rescale and normalise in float32) with less work per image:

- the resize computes only the pixels the centre crop keeps (PIL ``resize`` with a ``box``) for
  image sizes where :func:`crop_box` proves that PIL then uses the very same filter coefficients
  as the full resize followed by the crop, and where one noise image of that size comes out
  identical both ways (PIL may order its two passes differently for a box: Pillow 13 resamples
  vertically first when the height shrinks much more than the width); otherwise it resizes and
  crops as torchvision does;
- rescaling and normalising is a per-channel lookup table of the 256 float32 values that
  ``(v / 255 - mean) / std`` gives, so there is no per-pixel float arithmetic at all;
- no torch element-wise ops: called from several decode threads at once, they contend for torch's
  intra-op thread pool and run many times slower than the forward pass they feed.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import torch
from PIL import Image

Box = tuple[float, float, float, float]


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """Output ``(width, height)`` of torchvision's ``resize`` to ``size`` on the shorter side."""
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    return (size, new_long) if width <= height else (new_long, size)


def _axis_is_exact(
    in_size: int, full: int, offset: int, out: int, box: tuple[float, float]
) -> bool:
    """Whether PIL's coefficients for ``out`` pixels from ``box`` equal pixels ``offset…`` of a
    full resize of ``in_size`` to ``full``.

    PIL (``precompute_coeffs``) takes the box as float32, ``scale = (in1 - in0) / out`` and the
    source centre of output pixel ``x`` as ``in0 + (x + 0.5) * scale``; with no box, ``in0 = 0``
    and ``scale = in_size / full``. Every one of these must be exact (no rounding anywhere, so
    compiler contractions cannot matter) and equal in both cases.
    """
    in0, in1 = (Fraction(float(np.float32(b))) for b in box)
    scale = Fraction(in_size, full)
    if float(scale) != scale or (in1 - in0) != scale * out:
        return False
    if float(np.float32(in1 - in0)) != in1 - in0:
        return False
    for x in range(out):
        centre = in0 + (x + Fraction(1, 2)) * scale
        if centre != (offset + x + Fraction(1, 2)) * scale or float(centre) != centre:
            return False
    return True


def crop_box(
    width: int, height: int, resize: int, crop: tuple[int, int]
) -> tuple[Box, tuple[int, int]] | None:
    """The PIL ``box`` and output size that resize-and-crop in one exact step, or None.

    None when the crop is not inside the resized image (torchvision pads then) or when PIL's
    arithmetic for the box is not provably identical to that of the full resize.
    """
    new_w, new_h = resized_size(width, height, resize)
    crop_h, crop_w = crop
    if crop_h > new_h or crop_w > new_w:
        return None
    top = int(round((new_h - crop_h) / 2.0))
    left = int(round((new_w - crop_w) / 2.0))
    sx, sy = Fraction(width, new_w), Fraction(height, new_h)
    box = (
        float(left * sx),
        float(top * sy),
        float((left + crop_w) * sx),
        float((top + crop_h) * sy),
    )
    exact = _axis_is_exact(width, new_w, left, crop_w, (box[0], box[2])) and _axis_is_exact(
        height, new_h, top, crop_h, (box[1], box[3])
    )
    return (box, (crop_w, crop_h)) if exact else None


def normalisation_table(mean: Any, std: Any) -> np.ndarray:
    """``[channel, 256]`` float32: ``(v / 255 - mean[c]) / std[c]`` in float32, as torchvision."""
    values = np.arange(256, dtype=np.float32) / np.float32(255)
    mean = np.asarray(mean, dtype=np.float32)[:, None]
    std = np.asarray(std, dtype=np.float32)[:, None]
    return np.ascontiguousarray((values[None, :] - mean) / std)


def normalise(image: Image.Image, table: np.ndarray) -> torch.Tensor:
    """``[3, H, W]`` float32 of an RGB PIL image through a :func:`normalisation_table`."""
    planes = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1))
    pixels = np.empty(planes.shape, dtype=np.float32)
    for channel in range(planes.shape[0]):
        np.take(table[channel], planes[channel], out=pixels[channel], mode="clip")
    return torch.from_numpy(pixels)


class PresetTransform:
    """A torchvision ``ImageClassification`` preset, evaluated on PIL images without torch ops."""

    _unplanned = object()

    def __init__(self, preset: Any) -> None:
        self.preset = preset
        self.table = normalisation_table(preset.mean, preset.std)
        crop = list(preset.crop_size)
        self.crop_hw = (crop[0], crop[-1])
        # one resize size (the shorter side) and a filter PIL resamples with coefficients
        nearest = preset.interpolation.value.startswith("nearest")
        self.direct = len(preset.resize_size) == 1 and not nearest
        self.plans: dict[tuple[int, int], tuple[Box, tuple[int, int]] | None] = {}

    def reference_crop(self, image: Image.Image) -> Image.Image:
        """Resize, then centre-crop, exactly as the torchvision preset does."""
        import torchvision.transforms.functional as tvf

        p = self.preset
        image = tvf.resize(
            image, p.resize_size, interpolation=p.interpolation, antialias=p.antialias
        )
        return tvf.center_crop(image, p.crop_size)

    def plan(self, size: tuple[int, int]) -> tuple[Box, tuple[int, int]] | None:
        """The one-step resize-and-crop for images of ``size``, or None to do it in two steps."""
        plan = self.plans.get(size, self._unplanned)
        if plan is self._unplanned:
            plan = (
                crop_box(*size, self.preset.resize_size[0], self.crop_hw) if self.direct else None
            )
            if plan is not None:
                noise = np.random.default_rng(list(size)).integers(0, 256, (size[1], size[0], 3))
                probe = Image.fromarray(noise.astype(np.uint8))
                if not np.array_equal(
                    np.asarray(self.resize_box(probe, plan)),
                    np.asarray(self.reference_crop(probe)),
                ):
                    plan = None
            self.plans[size] = plan
        return plan

    def resize_box(self, image: Image.Image, plan: tuple[Box, tuple[int, int]]) -> Image.Image:
        """``image`` resized to the crop's size from the source region ``plan`` names."""
        import torchvision.transforms.functional as tvf

        box, size = plan
        return image.resize(size, tvf.pil_modes_mapping[self.preset.interpolation], box=box)

    def crop(self, image: Image.Image) -> Image.Image:
        """The resized, centre-cropped PIL image (one exact PIL call when possible)."""
        plan = self.plan(image.size)
        return self.reference_crop(image) if plan is None else self.resize_box(image, plan)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if not isinstance(image, Image.Image):
            return self.preset(image)
        return normalise(self.crop(image), self.table)

    def __repr__(self) -> str:
        return repr(self.preset)
