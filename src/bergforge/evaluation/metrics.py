"""Accuracy per target: Pearson r over test images and percent of the noise ceiling."""

from __future__ import annotations

import numpy as np

#: columns per block of :func:`pearson_columns` (bounds its float64 temporaries)
PEARSON_BLOCK = 4096


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of ``a`` and ``b`` (images × targets); NaN if constant.

    Computed :data:`PEARSON_BLOCK` columns at a time in float64, so its temporaries stay a few
    times images × 4,096 values whatever the number of targets (57,051 fMRI vertices)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 1:
        return pearson_columns(a[:, None], b[:, None])[0]
    r = np.empty(a.shape[1])
    for start in range(0, r.size, PEARSON_BLOCK):
        cols = slice(start, start + PEARSON_BLOCK)
        x = np.asarray(a[:, cols], dtype=np.float64)
        y = np.asarray(b[:, cols], dtype=np.float64)
        x = x - x.mean(axis=0)
        y = y - y.mean(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r[cols] = (x * y).sum(axis=0) / np.sqrt((x**2).sum(axis=0) * (y**2).sum(axis=0))
    r[~np.isfinite(r)] = np.nan
    return r


def percent_noise_ceiling(r: np.ndarray, nc: np.ndarray) -> np.ndarray:
    """``100 · max(r, 0)² / (NC/100)``, non-finite values (e.g. NC = 0) set to NaN; no cap."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * np.maximum(r, 0.0) ** 2 / (np.asarray(nc) / 100.0)
    out[~np.isfinite(out)] = np.nan
    return out
