"""Noise ceilings in the 91,282 space and the per-subject metadata dict of the MOSAIC card.

Noise ceiling (NSD, GLMsingle example 9) from betas z-scored per session, ``[image, rep, vertex]``:
``noisesd = sqrt(mean over images of var across reps (ddof 1))``, ``totalvar = var(all trials)``,
``ncsnr = sqrt(max(totalvar − noisesd², 0)) / noisesd``, ``NC = 100·ncsnr²/(ncsnr² + k)`` with
k = 1 for single trials (``n-1``) and k = mean over images of 1/n_reps (``n-avg``).
"""

from __future__ import annotations

import warnings

import numpy as np

from bergforge.datasets.grayordinates import N_GRAYORDINATES, GrayordinateSpace
from bergforge.errors import DataError

NOISE_CEILING_KEYS = tuple(
    f"{split}_{n}_noiseceiling"
    for split in ("test", "train", "artificial")
    for n in ("n-avg", "n-1")
)


class NoiseMoments:
    """:func:`ncsnr` of ``[image, repetition, vertex]`` betas fed a block of images at a time, so
    that a subject's thousands of own images (9,000 × 3 × 57,051 float32 ≈ 6.2 GB in NSD) never
    sit in memory together: per vertex, the sum and count of the per-image variances across
    repetitions, and the count, mean and squared deviations of all trials (merged block by block
    in float64, Chan et al.'s pairwise update), plus each image's repetition count."""

    def __init__(self, n_vertices: int) -> None:
        zeros = np.zeros(n_vertices)
        self.var_sum, self.var_count = zeros.copy(), zeros.copy()
        self.n, self.mean, self.m2 = zeros.copy(), zeros.copy(), zeros.copy()
        self.reps: list[np.ndarray] = []

    def add(self, values: np.ndarray) -> None:
        """Add a block of images ``[image, repetition, vertex]`` (NaN = missing)."""
        if values.ndim != 3:
            raise DataError(f"expected betas [image, repetition, vertex], got shape {values.shape}")
        present = ~np.isnan(values)
        repeated = present.sum(axis=1) >= 2  # (image, vertex)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # images seen once: NaN variance
            var_rep = np.nanvar(np.where(repeated[:, None], values, np.nan), axis=1, ddof=1)
            self.var_sum += np.where(repeated, var_rep, 0.0).sum(axis=0, dtype=np.float64)
            self.var_count += repeated.sum(axis=0)
            trials = values.reshape(-1, values.shape[2]).astype(np.float64)
            count = (~np.isnan(trials)).sum(axis=0)
            mean = np.nanmean(trials, axis=0)
            m2 = np.nansum((trials - mean) ** 2, axis=0)
        total = self.n + count
        both = count > 0
        delta = np.where(both, mean - self.mean, 0.0)
        safe = np.where(total > 0, total, 1)
        self.mean = np.where(both, self.mean + delta * count / safe, self.mean)
        self.m2 = np.where(both, self.m2 + m2 + delta**2 * self.n * count / safe, self.m2)
        self.n = total
        self.reps.append(present[:, :, 0].sum(axis=1))

    def ncsnr(self) -> np.ndarray:
        """(vertices,) noise-ceiling SNR of every block added, as :func:`ncsnr` of all of them."""
        with np.errstate(invalid="ignore", divide="ignore"):
            noise_var = np.where(self.var_count > 0, self.var_sum / self.var_count, np.nan)
            total_var = np.where(self.n > 1, self.m2 / (self.n - 1), np.nan)
            return np.sqrt(np.maximum(total_var - noise_var, 0)) / np.sqrt(noise_var)

    def repetitions(self) -> np.ndarray:
        """Repetitions of each image added (present at the first vertex), in order."""
        return np.concatenate(self.reps) if self.reps else np.empty(0, dtype=int)


def ncsnr(values: np.ndarray) -> np.ndarray:
    """(vertices,) noise-ceiling SNR of ``[image, repetition, vertex]`` betas (NaN = missing)."""
    if values.ndim != 3:
        raise DataError(f"expected betas [image, repetition, vertex], got shape {values.shape}")
    n_reps = (~np.isnan(values)).sum(axis=1)  # (image, vertex)
    repeated = n_reps >= 2
    var_rep = np.where(
        repeated, np.nanvar(np.where(repeated[:, None], values, np.nan), axis=1, ddof=1), np.nan
    )
    noise_var = np.nanmean(var_rep, axis=0)
    total_var = np.nanvar(values.reshape(-1, values.shape[2]), axis=0, ddof=1)
    return np.sqrt(np.maximum(total_var - noise_var, 0)) / np.sqrt(noise_var)


def noise_ceiling(snr: np.ndarray, n_reps: np.ndarray | int) -> np.ndarray:
    """Percent noise ceiling for averages over ``n_reps`` trials (per image counts allowed)."""
    k = np.mean(1.0 / np.asarray(n_reps, dtype=float))
    return 100.0 * snr**2 / (snr**2 + k)


def noise_ceilings_91k(
    values: np.ndarray | NoiseMoments, grayordinates: np.ndarray, split: str
) -> dict[str, np.ndarray]:
    """``{split}_n-avg_noiseceiling`` and ``{split}_n-1_noiseceiling`` as (91282,) arrays (NaN
    elsewhere), from betas ``[image, repetition, vertex]`` or their :class:`NoiseMoments`."""
    if isinstance(values, NoiseMoments):
        snr, reps = values.ncsnr(), values.repetitions()
    else:
        snr, reps = ncsnr(values), (~np.isnan(values[:, :, 0])).sum(axis=1)
    out = {}
    for key, n in (("n-avg", reps[reps > 0]), ("n-1", 1)):
        full = np.full(N_GRAYORDINATES, np.nan, dtype=np.float32)
        full[np.asarray(grayordinates)] = noise_ceiling(snr, n)
        out[f"{split}_{key}_noiseceiling"] = full
    return out


def subject_metadata(
    space: GrayordinateSpace,
    subject_info: dict,
    stimuli: dict,
    noise_ceilings: dict[str, np.ndarray],
) -> dict:
    """The card's ``metadata/NSD/sub-XX.npy`` dict (keys as the newest MOSAIC card names them)."""
    for key, value in noise_ceilings.items():
        if key not in NOISE_CEILING_KEYS:
            raise DataError(
                f"unknown noise-ceiling key {key!r}; expected one of {list(NOISE_CEILING_KEYS)}"
            )
        if np.shape(value) != (N_GRAYORDINATES,):
            raise DataError(
                f"noise ceiling {key}: expected shape ({N_GRAYORDINATES},), got {np.shape(value)}"
            )
    return {
        "vertex_mapping_all": space.vertex_mapping_all.copy(),
        "glasser_group_id": space.model_glasser_group(),
        "roi": {name: space.roi_indices(name) for name in sorted(space.region_names.values())},
        "subject_info": dict(subject_info),
        "stimuli": dict(stimuli),
        "noise_ceiling": dict(noise_ceilings),
    }
