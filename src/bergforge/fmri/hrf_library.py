"""Hemodynamic response functions: the canonical HRF and a 20-HRF library, sampled at the TR.

GLMsingle ships its library as ``getcanonicalhrflibrary.tsv`` (501 samples at 0.1 s for 20 HRFs
derived from NSD). Those exact values are not shipped with bergforge; :func:`hrf_library` builds a
documented parametric stand-in instead: 20 SPM-style double-gamma HRFs whose peak shape parameter
runs linearly from 3.5 to 10.0 (time to peak ≈ 2.5–9 s), undershoot shape = peak shape + 10,
undershoot ratio 1/6, ordered from early to late like the published library. Pass the published
table to :func:`load_hrf_library` to use the real one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.stats import gamma

from bergforge.errors import DataError

FINE_DT = 0.1  # s, sampling of the library and canonical HRF
N_FINE = 501  # 0 … 50 s
N_LIBRARY = 20


def double_gamma(peak_shape: float, undershoot_shape: float, ratio: float = 1 / 6) -> np.ndarray:
    """A double-gamma HRF on the 0.1-s grid (0…50 s), normalised to peak 1."""
    t = np.arange(N_FINE) * FINE_DT
    h = gamma.pdf(t, peak_shape) - ratio * gamma.pdf(t, undershoot_shape)
    return h / h.max()


def canonical_hrf() -> np.ndarray:
    """The SPM canonical HRF (peak 6, undershoot 16, ratio 1/6) on the 0.1-s grid."""
    return double_gamma(6.0, 16.0)


def hrf_library() -> np.ndarray:
    """(501, 20) parametric library on the 0.1-s grid, early to late (see module docstring)."""
    shapes = np.linspace(3.5, 10.0, N_LIBRARY)
    return np.stack([double_gamma(a, a + 10.0) for a in shapes], axis=1)


def load_hrf_library(path: Path) -> np.ndarray:
    """Read GLMsingle's ``getcanonicalhrflibrary.tsv`` (501 rows × 20 columns, tab-separated)."""
    table = np.loadtxt(path, delimiter="\t", ndmin=2)
    if table.shape != (N_FINE, N_LIBRARY):
        raise DataError(f"{path}: expected an HRF library of shape (501, 20), got {table.shape}")
    return table


def hrf_at_tr(hrf_fine: np.ndarray, stimdur: float, tr: float) -> np.ndarray:
    """Convolve a 0.1-s HRF with a ``stimdur`` boxcar, resample at the TR (pchip), peak 1."""
    if stimdur <= 0 or tr <= 0:
        raise DataError(f"stimdur and tr must be positive, got stimdur={stimdur}, tr={tr}")
    box = np.ones(max(1, round(stimdur / FINE_DT)))
    conv = np.convolve(hrf_fine, box)
    t_fine = np.arange(conv.size) * FINE_DT
    t_tr = np.arange(0.0, t_fine[-1] + 1e-9, tr)
    sampled = PchipInterpolator(t_fine, conv)(t_tr)
    return sampled / np.max(sampled)
