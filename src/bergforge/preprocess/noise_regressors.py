"""GLMdenoise pieces: R² threshold, noise pool, PC noise regressors, cross-validated choices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.mixture import GaussianMixture

from bergforge.errors import DataError


def find_tail_threshold(values: np.ndarray, seed: int = 0, max_values: int = 1_000_000) -> float:
    """Point where a 2-component Gaussian mixture fitted to ``values`` is 50/50 between components."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < 4:
        raise DataError("need at least 4 finite values to find an R² threshold")
    rng = np.random.default_rng(seed)
    if v.size > max_values:
        v = rng.choice(v, max_values, replace=False)
    gmm = GaussianMixture(2, n_init=3, random_state=seed).fit(v[:, None])
    means = gmm.means_.ravel()
    lo, hi = np.sort(means)
    grid = np.linspace(lo, hi, 1001)
    posterior_hi = gmm.predict_proba(grid[:, None])[:, int(np.argmax(means))]
    return float(grid[np.argmin(np.abs(posterior_hi - 0.5))])


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
