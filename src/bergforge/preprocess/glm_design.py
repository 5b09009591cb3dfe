"""Design matrices for GLMsingle: polynomial drift bases, single-trial and on-off regressors."""

from __future__ import annotations

import numpy as np

from bergforge.errors import DataError


def default_max_poly_degree(n_volumes: int, tr: float) -> int:
    """GLMsingle's default: round(run duration in minutes / 2)."""
    return int(round(n_volumes * tr / 60.0 / 2.0))


def polynomial_basis(n_volumes: int, degree: int) -> np.ndarray:
    """(T, degree+1) orthonormal polynomials of degree 0…degree on linspace(−1, 1, T)."""
    x = np.linspace(-1.0, 1.0, n_volumes)
    q, r = np.linalg.qr(np.vander(x, degree + 1, increasing=True))
    return q * np.sign(np.diag(r))  # deterministic signs


def trial_onsets(design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volume index and condition of each trial of a (T, C) 0/1 design, in chronological order."""
    design = np.asarray(design)
    if design.ndim != 2 or not np.isin(design, (0, 1)).all():
        raise DataError(f"expected a (time, conditions) design of 0s and 1s, got {design.shape}")
    volume, condition = np.nonzero(design)
    return volume, condition


def single_trial_design(design: np.ndarray, hrf_tr: np.ndarray) -> np.ndarray:
    """(T, n_trials): one HRF-shaped regressor per onset, truncated at the end of the run."""
    volume, _ = trial_onsets(design)
    n_volumes = design.shape[0]
    x = np.zeros((n_volumes, volume.size))
    for j, t0 in enumerate(volume):
        n = min(hrf_tr.size, n_volumes - t0)
        x[t0 : t0 + n, j] = hrf_tr[:n]
    return x


def onoff_design(design: np.ndarray, hrf_tr: np.ndarray) -> np.ndarray:
    """(T, 1): all trials collapsed into one regressor."""
    return single_trial_design(design, hrf_tr).sum(axis=1, keepdims=True)


def design_from_onsets(
    onsets_s: np.ndarray, conditions: np.ndarray, n_volumes: int, n_conditions: int, tr: float
) -> np.ndarray:
    """(T, C) 0/1 design with a 1 at the volume nearest each onset (in seconds)."""
    volume = np.round(np.asarray(onsets_s, dtype=float) / tr).astype(int)
    if volume.size and (volume.min() < 0 or volume.max() >= n_volumes):
        raise DataError(f"onsets must lie within the run (0…{(n_volumes - 1) * tr} s)")
    design = np.zeros((n_volumes, n_conditions), dtype=np.int8)
    design[volume, np.asarray(conditions, dtype=int)] = 1
    return design
