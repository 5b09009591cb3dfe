"""Accuracy per target: Pearson r over test images and percent of the noise ceiling."""

from __future__ import annotations

import numpy as np


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of ``a`` and ``b`` (images × targets); NaN if constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=0) / np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    r[~np.isfinite(r)] = np.nan
    return r


def percent_noise_ceiling(r: np.ndarray, nc: np.ndarray) -> np.ndarray:
    """``100 · max(r, 0)² / (NC/100)``, non-finite values (e.g. NC = 0) set to NaN; no cap."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * np.maximum(r, 0.0) ** 2 / (np.asarray(nc) / 100.0)
    out[~np.isfinite(out)] = np.nan
    return out
