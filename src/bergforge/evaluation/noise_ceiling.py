"""Noise ceiling of the test responses with the NSD formula (as BERG's MEG test code).

``σ²_noise = mean over images of var over repetitions (ddof=1)``,
``σ²_signal = max(var over all trials (ddof=1) − σ²_noise, 0)``, ``ncsnr = σ_signal / σ_noise``,
``NC = 100 · ncsnr² / (ncsnr² + 1/n)`` with ``n`` the number of repetitions averaged (percent of
explainable variance). With missing repetitions, ``n = 1 / mean(1/n_i)`` (the noise of the
average is ``σ²_noise · mean(1/n_i)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bergforge.errors import DataError


@dataclass
class TestSummary:
    """Repetition-averaged test responses and the moments the noise ceiling needs (float64)."""

    mean: np.ndarray  # (n_images, T) average over present repetitions
    counts: np.ndarray  # (n_images,) present repetitions
    within_var: np.ndarray  # (n_images, T) variance over repetitions, ddof=1 (NaN if < 2)


def summarize_test(trials: np.ndarray) -> TestSummary:
    """Summary of test trials ``[image, repetition, T]`` (NaN = missing repetition)."""
    x = np.asarray(trials, dtype=np.float64)
    if x.shape[1] >= 2 and not np.isnan(x.sum()):  # every repetition present: plain moments
        return TestSummary(x.mean(axis=1), np.full(x.shape[0], x.shape[1]), x.var(axis=1, ddof=1))
    present = ~np.isnan(x).all(axis=2)
    counts = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=1) / counts[:, None]
        dev = np.where(present[:, :, None], x - mean[:, None], 0.0)
        within = (dev**2).sum(axis=1) / (counts[:, None] - 1)
    within[counts < 2] = np.nan
    mean[counts == 0] = np.nan
    return TestSummary(mean, counts, within)


def concatenate_summaries(parts: list[TestSummary]) -> TestSummary:
    """Join the summaries of consecutive image batches."""
    return TestSummary(
        np.concatenate([p.mean for p in parts]),
        np.concatenate([p.counts for p in parts]),
        np.concatenate([p.within_var for p in parts]),
    )


def effective_repetitions(counts: np.ndarray) -> float:
    """``1 / mean(1/n_i)`` over images with data (= n when every image has n repetitions)."""
    c = counts[counts > 0]
    return float(1.0 / np.mean(1.0 / c))


def noise_ceiling(summary: TestSummary) -> tuple[np.ndarray, np.ndarray, float]:
    """``(ncsnr, NC in percent, n)`` per target from a test summary."""
    counts = summary.counts
    if counts.size == 0 or counts.max() == 0:
        raise DataError("no test repetitions: the noise ceiling needs test responses")
    if (counts >= 2).sum() < 2:
        raise DataError(
            "the noise ceiling needs at least 2 test repetitions of at least 2 images; "
            f"got repetition counts {sorted(set(counts.tolist()))}"
        )
    noise_var = np.nanmean(summary.within_var[counts >= 2], axis=0)
    # variance over all single trials (ddof=1) from per-image means and within sums of squares
    ok = counts > 0
    n_trials = counts[ok].sum()
    grand = (summary.mean[ok] * counts[ok, None]).sum(axis=0) / n_trials
    within_ss = np.nansum(summary.within_var[ok] * (counts[ok, None] - 1), axis=0)
    between_ss = ((summary.mean[ok] - grand) ** 2 * counts[ok, None]).sum(axis=0)
    total_var = (within_ss + between_ss) / (n_trials - 1)
    signal_var = np.maximum(total_var - noise_var, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ncsnr = np.sqrt(signal_var) / np.sqrt(noise_var)
    n = effective_repetitions(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        nc = 100.0 * ncsnr**2 / (ncsnr**2 + 1.0 / n)
    return ncsnr, nc, n
