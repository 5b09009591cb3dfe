"""Ground-truth building blocks: temporal response shapes, spatial patterns and band-limited noise."""

from __future__ import annotations

from functools import cache

import numpy as np

#: Pass band of the simulated sensor noise (Hz); it lies inside every preprocessing band-pass used
#: by bergforge (MEG 0.1–40 Hz, EEG 0.03–100 Hz), so filtering leaves its variance unchanged.
NOISE_BAND = (1.0, 25.0)


def temporal_shape(times: np.ndarray, latency: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Smooth response bumps, one per component: (n_components, n_times).

    Each bump is ``(u * e^(1-u))^3`` with ``u = (t - onset) / width``, zero before onset; it peaks at
    ``latency = onset + width`` with value 1 and its spectrum stays well below 25 Hz.
    """
    latency = np.asarray(latency, dtype=float)[:, None]
    width = np.asarray(width, dtype=float)[:, None]
    u = (np.asarray(times, dtype=float)[None, :] - (latency - width)) / width
    u = np.clip(u, 0.0, None)
    return (u * np.exp(1.0 - u)) ** 3


def smooth_spatial_patterns(
    positions: np.ndarray, n_patterns: int, rng: np.random.Generator, n_blobs: int = 2
) -> np.ndarray:
    """Spatially smooth patterns over sensor positions: (n_patterns, n_channels), unit max-abs.

    Each pattern is a sum of signed Gaussian blobs centred on random sensors, like a dipolar field.
    """
    positions = np.asarray(positions, dtype=float)
    span = np.ptp(positions, axis=0).max()
    patterns = np.zeros((n_patterns, len(positions)))
    for j in range(n_patterns):
        for _ in range(n_blobs):
            centre = positions[rng.integers(len(positions))]
            dist2 = ((positions - centre) ** 2).sum(axis=1)
            sigma = rng.uniform(0.12, 0.3) * span
            patterns[j] += (
                rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * np.exp(-dist2 / (2 * sigma**2))
            )
        patterns[j] /= np.abs(patterns[j]).max()
    return patterns


@cache
def _noise_gain(sfreq: float, n: int) -> np.ndarray:
    """Per-frequency gain (``rfft`` bins of length ``n``) that turns white noise into unit-variance
    noise in :data:`NOISE_BAND`: the squared magnitude of a 4th-order Butterworth band-pass (the
    response of running it forwards and backwards, zero phase), scaled to unit output variance."""
    from scipy import signal  # here: importing scipy.signal costs a second

    sos = signal.butter(4, NOISE_BAND, btype="bandpass", fs=sfreq, output="sos")
    _, h = signal.sosfreqz(sos, worN=np.fft.rfftfreq(n, 1.0 / sfreq), fs=sfreq)
    power = np.abs(h) ** 2
    # output variance of unit white noise = (1/n) Σ over all n bins of |gain|² (rfft: interior twice)
    weights = np.full(power.size, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    return power / np.sqrt(np.sum(weights * power**2) / n)


def band_limited_noise(
    rng: np.random.Generator,
    n_channels: int,
    n_samples: int,
    sfreq: float,
    sd: np.ndarray,
    block: int = 16,
) -> np.ndarray:
    """Gaussian noise in :data:`NOISE_BAND` with exactly ``sd`` (per channel) as its stationary std.

    White noise shaped in the frequency domain (circularly, over a fast FFT length ≥ ``n_samples``),
    ``block`` channels at a time to bound memory.
    """
    from scipy import fft

    n = fft.next_fast_len(int(n_samples), real=True)
    gain = _noise_gain(float(sfreq), n)
    sd = np.broadcast_to(np.asarray(sd, dtype=float), (n_channels,))
    out = np.empty((n_channels, n_samples))
    for start in range(0, n_channels, block):
        stop = min(start + block, n_channels)
        white = rng.standard_normal((stop - start, n))
        shaped = fft.irfft(fft.rfft(white, axis=1) * gain, n=n, axis=1)
        out[start:stop] = shaped[:, :n_samples] * sd[start:stop, None]
    return out


def noise_ceiling(signal_var: np.ndarray, noise_var: np.ndarray, n_reps: int) -> np.ndarray:
    """NSD noise ceiling (percent variance) from true signal and noise variances, ``n_reps`` averaged."""
    snr2 = np.asarray(signal_var, dtype=float) / np.asarray(noise_var, dtype=float)
    return 100.0 * snr2 / (snr2 + 1.0 / n_reps)
