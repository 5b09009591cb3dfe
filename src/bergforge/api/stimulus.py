"""Validation of the images given to ``BERG.encode``: a 4-D uint8 ``[batch, 3, H, W]`` array."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from bergforge.errors import StimulusError

#: Side length the backbones' presets crop to; smaller images are upsampled (with a warning).
RECOMMENDED_SIZE = 224


class SmallStimulusWarning(UserWarning):
    """Images smaller than :data:`RECOMMENDED_SIZE` pixels are upsampled by the transform."""


def validate_stimulus(stimulus: object) -> np.ndarray:
    """Return ``stimulus`` as uint8 ``[batch, 3, H, W]``, or raise :class:`StimulusError`.

    Integer arrays with values in 0–255 are accepted and cast to uint8 (``np.random.randint``
    gives int64); floats, booleans, values outside 0–255, other ranks, other channel counts and
    non-square images are refused.
    """
    expected = "a 4-D uint8 numpy array [batch, 3, height, width] of square images, values 0-255"
    if not isinstance(stimulus, np.ndarray):
        raise StimulusError(f"stimulus must be {expected}; got {type(stimulus).__name__}")
    if stimulus.ndim != 4:
        raise StimulusError(
            f"stimulus must be {expected}; got a {stimulus.ndim}-D array of shape {stimulus.shape}"
        )
    batch, channels, height, width = stimulus.shape
    if batch == 0:
        raise StimulusError(f"stimulus must be {expected}; got an empty batch {stimulus.shape}")
    if channels != 3:
        raise StimulusError(
            f"stimulus must have 3 colour channels on axis 1 ([batch, 3, H, W]); got shape "
            f"{stimulus.shape}"
        )
    if height != width:
        raise StimulusError(f"stimulus images must be square; got height {height} x width {width}")
    if stimulus.dtype == np.bool_ or not np.issubdtype(stimulus.dtype, np.integer):
        raise StimulusError(
            f"stimulus must hold integers 0-255 (uint8); got dtype {stimulus.dtype} "
            "(convert floats in [0, 1] with (x * 255).round().astype(np.uint8))"
        )
    if stimulus.dtype != np.uint8:
        low, high = int(stimulus.min()), int(stimulus.max())
        if low < 0 or high > 255:
            raise StimulusError(
                f"stimulus values must lie in 0-255; got values from {low} to {high}"
            )
        stimulus = stimulus.astype(np.uint8)
    if height < RECOMMENDED_SIZE:
        warnings.warn(
            f"stimulus images are {height}x{width} px, below the recommended "
            f"{RECOMMENDED_SIZE}x{RECOMMENDED_SIZE}; they will be upsampled",
            SmallStimulusWarning,
            stacklevel=3,
        )
    return stimulus


def stimulus_batches(
    stimulus: object, batch_size: int, model_id: str, show_progress: bool = False
) -> Iterator[np.ndarray]:
    """The validated images of ``stimulus`` in batches of ``batch_size`` (with a progress bar)."""
    images = validate_stimulus(stimulus)
    starts = range(0, images.shape[0], batch_size)
    if show_progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"encoding with {model_id}", unit="batch")
    for start in starts:
        yield images[start : start + batch_size]
