"""GLMdenoise pieces: R² threshold, noise pool, PC noise regressors, cross-validated choices."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sklearn.mixture import GaussianMixture

from bergforge.errors import DataError

log = logging.getLogger(__name__)


N_RESTARTS = 3  # GLMsingle's restarts of the mixture fit
N_GRID = 500  # GLMsingle's points between the ends of the range
MAX_VALUES = 1_000_000  # GLMsingle's largest sample fitted


def robust_range(values: np.ndarray) -> tuple[float, float]:
    """GLMsingle's ``robustrange``: (min, max) of ``values`` without outliers.

    Percentiles p0.1, p10, p50, p90, p99.9 give the limits pmn = p50 − 5·(p50 − p10) and
    pmx = p50 + 5·(p90 − p50). If p99.9 > pmx, the values above pmx are dropped; if p0.1 < pmn,
    those below pmn; either drop reruns the whole procedure on what remains. Otherwise the max is
    the absolute max when that is ≤ p50 + 1.1·(p99.9 − p50), else p99.9 (the min mirrored).
    """
    m = np.asarray(values, dtype=float).ravel()
    if m.size == 0 or not np.isfinite(m).all():
        raise DataError("robust_range needs a non-empty array of finite values")
    while True:
        p01, p10, p50, p90, p999 = np.percentile(m, [0.1, 10, 50, 90, 99.9])
        pmn, pmx = p50 - 5 * (p50 - p10), p50 + 5 * (p90 - p50)
        drop_high, drop_low = p999 > pmx, p01 < pmn
        if not (drop_high or drop_low):
            lo = m.min() if m.min() >= p50 - 1.1 * (p50 - p01) else p01
            hi = m.max() if m.max() <= p50 + 1.1 * (p999 - p50) else p999
            return float(lo), float(hi)
        m = m[~((drop_high & (m > pmx)) | (drop_low & (m < pmn)))]


def find_tail_threshold(values: np.ndarray, seed: int = 0, max_values: int = MAX_VALUES) -> float:
    """GLMsingle's ``findtailthreshold``: where a 2-Gaussian mixture stops favouring the upper tail.

    Fits the mixture (``tol=1e-10``, ``reg_covar=0``, 3 restarts, ``random_state=seed``) to the
    finite values (a random subset of ``max_values`` drawn with ``seed`` if more), spans 500 points
    over :func:`robust_range` widened to both means, and scans from the right end leftwards for
    the first point where the component dominating the right end has posterior ≤ 0.5.
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < 4:
        raise DataError("need at least 4 finite values to find an R² threshold")
    if v.size > max_values:
        v = np.random.default_rng(seed).choice(v, max_values, replace=False)
    gmm = GaussianMixture(2, tol=1e-10, reg_covar=0.0, n_init=N_RESTARTS, random_state=seed)
    gmm.fit(v[:, None])
    lo, hi = robust_range(v)
    means = gmm.means_.ravel()
    grid = np.linspace(min(lo, means.min()), max(hi, means.max()), N_GRID)
    return _first_crossing_from_right(grid, gmm.predict_proba(grid[:, None]))


def _first_crossing_from_right(grid: np.ndarray, posterior: np.ndarray) -> float:
    """Rightmost grid point where the right end's dominant component has posterior ≤ 0.5."""
    upper = 0 if posterior[-1, 0] > 0.5 else 1
    below = np.flatnonzero(posterior[:, upper] <= 0.5)
    if below.size == 0:
        log.warning("tail threshold: no crossing of 0.5 found; using the range's lower end")
        return float(grid[0])
    return float(grid[below[-1]])


def noise_pool(meanvol: np.ndarray, onoff_r2: np.ndarray, brain_r2: float) -> np.ndarray:
    """Voxels bright enough (> 10 % of the 99th percentile) and not task-driven (R² < threshold)."""
    bright = meanvol > np.percentile(meanvol, 99) * 0.1
    return bright & (onoff_r2 < brain_r2)


def pc_regressors(noise_ts: np.ndarray, n_pcs: int) -> np.ndarray:
    """(T, n_pcs+1) left singular vectors of the unit-norm noise-pool time series, unit SD each."""
    norms = np.linalg.norm(noise_ts, axis=0)
    norms[norms == 0] = 1.0
    u, _, _ = np.linalg.svd(noise_ts / norms, full_matrices=False)
    u = u[:, : n_pcs + 1]
    return u / u.std(axis=0, ddof=1)


def select_noise_regressors(xvaltrend: np.ndarray, pcstop: float = 1.05) -> int:
    """Smallest number of PCs whose improvement is a new best within ``pcstop`` of the maximum."""
    curve = np.asarray(xvaltrend, dtype=float) - xvaltrend[0]
    target = curve.max()
    best = -np.inf
    for k, value in enumerate(curve):
        if value > best:
            best = value
            if best * pcstop >= target:
                return k
    return int(np.argmax(curve))


def calc_badness(
    betas: Sequence[np.ndarray],
    trial_run: np.ndarray,
    trial_condition: np.ndarray,
    trial_session: np.ndarray,
) -> np.ndarray:
    """(V, H) leave-one-run-out error of each hyperparameter's betas against held-out ``betas[0]``.

    Betas (V, trials) are z-scored per voxel and session with the mean and SD of ``betas[0]``.
    For each held-out run and each of its trials whose condition occurs in other runs, adds the
    squared difference between every training-run beta of that condition (hyperparameter h) and the
    held-out beta of the reference fit.
    """
    reference = betas[0]
    scaled = [np.empty_like(b) for b in betas]
    for s in np.unique(trial_session):
        cols = trial_session == s
        mu = reference[:, cols].mean(axis=1, keepdims=True)
        sd = reference[:, cols].std(axis=1, keepdims=True)
        sd[sd == 0] = 1.0
        for out, b in zip(scaled, betas, strict=True):
            out[:, cols] = (b[:, cols] - mu) / sd
    badness = np.zeros((reference.shape[0], len(betas)))
    for run in np.unique(trial_run):
        test = np.flatnonzero(trial_run == run)
        train = np.flatnonzero(trial_run != run)
        for t in test:
            match = train[trial_condition[train] == trial_condition[t]]
            if match.size == 0:
                continue
            held = scaled[0][:, t : t + 1]
            for h, b in enumerate(scaled):
                badness[:, h] += ((b[:, match] - held) ** 2).sum(axis=1)
    return badness
