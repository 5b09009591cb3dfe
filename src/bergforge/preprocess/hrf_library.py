"""Hemodynamic response functions: GLMsingle's canonical HRF and 20-HRF library, sampled at the TR.

Both are GLMsingle's published tables, shipped in ``bergforge/preprocess/data`` (provenance and licence
in ``GLMSINGLE_NOTICE.txt``): ``getcanonicalhrflibrary.tsv``, 20 HRFs derived from NSD at 0.1-s
steps (501 samples, 0–50 s, peaks from 2.7 s to 5.7 s, ordered early to late), and
``basic_hrf.txt``, the canonical response to a 0.1-s stimulus (490 samples). :func:`hrf_at_tr`
turns one into the predicted response to a stimulus of a given duration at the TR: convolution
with the stimulus boxcar, pchip resampling, peak normalised to one for each HRF (as the
library's documentation states).
"""

from __future__ import annotations

import importlib.resources
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from bergforge.errors import DataError

FINE_DT = 0.1  # s, sampling of the library and canonical HRF
N_FINE = 501  # 0 … 50 s
N_LIBRARY = 20
LIBRARY_FILE = "getcanonicalhrflibrary.tsv"
CANONICAL_FILE = "basic_hrf.txt"


def _data_file(name: str) -> Path:
    return Path(str(importlib.resources.files("bergforge.preprocess").joinpath("data", name)))


@lru_cache(maxsize=1)
def _shipped_library() -> np.ndarray:
    table = load_hrf_library(_data_file(LIBRARY_FILE))
    table.setflags(write=False)
    return table


def canonical_hrf() -> np.ndarray:
    """GLMsingle's canonical HRF (response to a 0.1-s stimulus) on the 0.1-s grid."""
    return np.loadtxt(_data_file(CANONICAL_FILE), ndmin=1)


def hrf_library() -> np.ndarray:
    """(501, 20) GLMsingle HRF library on the 0.1-s grid, early to late (a fresh copy)."""
    return _shipped_library().copy()


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
