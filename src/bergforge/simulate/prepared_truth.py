"""The ground truth of the *prepared* responses of a simulated MEG/EEG subject.

The simulator's analytic noise ceiling holds for the raw trials. Preprocessing changes it: the
baseline subtraction adds each trial's baseline noise to every sample, per-trial z-scoring (MEG)
divides signal and noise by a noisy scale, and current source density (EEG) mixes channels whose
noise differs. So the truth of the prepared data is measured the only way that holds for every
recipe: trials of the test images, drawn from the subject's own truth (signal + noise, the same
generator as its raw files), go through the very preprocessing functions the pipeline runs
(band-pass on the continuous recording, epochs, CSD, resampling, baseline, decimation), many more
of them per image than the study has. Per target, with ``M`` trials of each of ``I`` images:

    noise_var  = mean over images of the variance over its trials (ddof 1)
    signal_var = variance over images of the trial means (ddof 1) − noise_var / M

and the NSD noise ceiling of the study's ``n`` repetitions follows from them
(:func:`bergforge.simulate.signals.noise_ceiling`). Pseudo-studies of ``n`` of the simulated
trials per image, put through the pipeline's own noise-ceiling estimate and compared with the
truth of the other trials, give the spread "estimated − true" has by sampling alone
(``resampled_difference``, beside each draw's truth ``resampled_true``), so that an estimate can
be called right or wrong "within sampling error". A study is compared with the truth over the
targets the truth itself calls signal, so each pseudo-study is too, over the targets its own
truth (the other trials) calls signal: the selection then favours the truth's upward errors in
both, and in neither the estimate's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bergforge.atomic import save_npz
from bergforge.simulate.prepared_trials import DEFAULT_TRIALS
from bergforge.simulate.signals import band_limited_noise, noise_ceiling
from bergforge.simulate.truth import SubjectTruth

log = logging.getLogger(__name__)

#: pseudo-studies drawn from the simulated trials to measure the estimate's sampling spread
RESAMPLES = 100


def repeats_per_recording(n_images: int, trials_per_recording: int) -> int:
    """How often each test image appears in one simulated recording of about the study's length."""
    return max(1, round(trials_per_recording / n_images))


def trial_blocks(
    n_images: int, n_trials: int, per_recording: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Image index of every trial, one array per recording: each recording holds every image
    ``per_recording`` times in a random order, as a study balances its test images over its
    sessions (so what a recording adds to all its trials is noise, never signal), until every
    image has ``n_trials`` (a multiple of ``per_recording``)."""
    if n_trials % per_recording:
        raise ValueError(f"n_trials = {n_trials} is not a multiple of {per_recording}")
    for _ in range(n_trials // per_recording):
        yield rng.permutation(np.repeat(np.arange(n_images), per_recording))


@dataclass(frozen=True)
class Recording:
    """How one simulated subject's recordings are made: its truth and per-channel offsets, the
    modality (which preprocessing applies), sampling rate, SOA and its uniform jitter (± seconds,
    as the study draws it: where a short gap puts the previous response's tail into the next
    baseline, the truth must see it as often), response length (samples) and the number of
    trials in one of the study's recordings (simulated recordings are as long, so that the
    band-pass meets the same edges: a 0.03 Hz high-pass is longer than a demo EEG partition)."""

    modality: str
    truth: SubjectTruth
    offsets: np.ndarray
    sfreq: float
    soa: float
    kernel_len: int
    trials_per_recording: int
    soa_jitter: float = 0.0


def recording(
    design: Recording, rng: np.random.Generator, trial_latents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A continuous recording (channels × samples) with one trial per row of ``trial_latents``,
    ``soa`` ± ``soa_jitter`` apart after 1 s of lead-in, and the onset sample of every trial."""
    truth, sfreq, kernel_len = design.truth, design.sfreq, design.kernel_len
    gaps = np.full(len(trial_latents), design.soa)
    if design.soa_jitter:
        gaps += rng.uniform(-design.soa_jitter, design.soa_jitter, size=len(gaps))
    starts = np.concatenate([[0.0], np.cumsum(gaps[:-1])])
    onsets = np.round((1.0 + starts) * sfreq).astype(int)
    n_samples = int(onsets[-1] + kernel_len + 2 * sfreq)
    data = band_limited_noise(rng, len(truth.channels), n_samples, sfreq, truth.noise_sd)
    data += design.offsets[:, None]
    kernels, evoked = truth.kernels(np.arange(kernel_len) / sfreq)
    for z, onset in zip(trial_latents, onsets, strict=True):
        data[:, onset : onset + kernel_len] += np.tensordot(z, kernels, axes=(0, 0)) + evoked
    return data, onsets


def _meg_epochs(data: np.ndarray, onsets: np.ndarray, channels: list[str], sfreq: float, params):
    """THINGS-MEG1's preprocessing of one recording (:func:`bergforge.preprocess.meg.preprocess_run`)."""
    import mne

    from bergforge.preprocess.meg import preprocess_run

    info = mne.create_info(channels, sfreq, "mag")
    raw = mne.io.RawArray(data, info, verbose="error")
    events = np.stack([onsets, np.zeros_like(onsets), np.ones_like(onsets)], axis=1)
    return preprocess_run(raw, events, params, Path("<prepared truth>"))


def _eeg_epochs(data: np.ndarray, onsets: np.ndarray, channels: list[str], sfreq: float, params):
    """THINGS-EEG2's preprocessing of one recording (``prepare_raw`` then ``preprocess_epochs``)."""
    import mne

    from bergforge.preprocess.eeg import prepare_raw, preprocess_epochs

    info = mne.create_info(channels, sfreq, "eeg")
    raw = mne.io.RawArray(data, info, verbose="error")
    source = Path("<prepared truth>")
    prepare_raw(raw, params, source)
    events = np.stack([onsets, np.zeros_like(onsets), np.ones_like(onsets)], axis=1)
    return preprocess_epochs(raw, events, params, source)


PREPROCESSORS = {"meg": _meg_epochs, "eeg": _eeg_epochs}


def prepared_truth(
    design: Recording,
    test_latents: np.ndarray,
    params,
    n_reps: int,
    rng: np.random.Generator,
    n_trials: int = DEFAULT_TRIALS,
) -> dict[str, np.ndarray]:
    """Signal and noise variance, ncsnr and noise ceiling (percent) of the prepared test responses,
    each ``(channels, times)``, plus the true prepared responses ``(image, channels, times)``."""
    if n_trials < 2:
        raise ValueError(f"n_trials = {n_trials}; expected at least 2 trials per image")
    k = repeats_per_recording(len(test_latents), design.trials_per_recording)
    n_trials = -(-n_trials // k) * k
    trials, channels, times = simulated_trials(design, test_latents, params, rng, n_trials)
    mean, signal_var, noise_var = variances(trials)
    difference, resampled_true = resampled_differences(trials, n_reps, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ncsnr = np.sqrt(signal_var / noise_var)
    return {
        "channels": np.asarray(channels),
        "times": times,
        "signal_var": signal_var,
        "noise_var": noise_var,
        "ncsnr": ncsnr,
        "noise_ceiling": noise_ceiling(signal_var, noise_var, n_reps),
        "true_response_test": mean.astype(np.float32),
        "resampled_difference": difference,
        "resampled_true": resampled_true,
        "n_reps": np.int64(n_reps),
        "n_trials": np.int64(n_trials),
    }


def simulated_trials(
    design: Recording, test_latents: np.ndarray, params, rng: np.random.Generator, n_trials: int
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Prepared trials ``(image, trial, channels, times)`` float32 of the test images, with the
    channel names and times the preprocessing kept."""
    preprocess = PREPROCESSORS[design.modality]
    n_images = len(test_latents)
    filled = np.zeros(n_images, dtype=int)
    trials = channels = times = None
    k = repeats_per_recording(n_images, design.trials_per_recording)
    blocks = trial_blocks(n_images, n_trials, k, rng)
    for b, images in enumerate(blocks):
        data, onsets = recording(design, rng, test_latents[images])
        epochs = preprocess(data, onsets, list(design.truth.channels), design.sfreq, params)
        x = epochs.get_data(copy=False)
        if trials is None:
            channels, times = list(epochs.ch_names), np.round(epochs.times, 6)
            trials = np.empty((n_images, n_trials, *x.shape[1:]), dtype=np.float32)
        for row, image in zip(x, images, strict=True):
            trials[image, filled[image]] = row
            filled[image] += 1
        log.info("prepared truth: recording %d, %d trials done", b + 1, images.size)
    return trials, channels, times


def variances(trials: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-image means, signal variance and noise variance of trials ``(image, trial, ...)``:
    noise = mean over images of the variance over trials (ddof 1); signal = variance over images
    of the means (ddof 1) less the noise left in a mean of that many trials."""
    x = trials.astype(np.float64)
    mean = x.mean(axis=1)
    noise_var = x.var(axis=1, ddof=1).mean(axis=0)
    signal_var = np.clip(mean.var(axis=0, ddof=1) - noise_var / x.shape[1], 0.0, None)
    return mean, signal_var, noise_var


def resampled_differences(
    trials: np.ndarray, n_reps: int, rng: np.random.Generator, n_draws: int = RESAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """Estimated − true noise ceiling on ``n_draws`` pseudo-studies, and each one's true noise
    ceiling: a pseudo-study takes ``n_reps`` of the simulated trials per image and puts them
    through the study's estimate (:func:`bergforge.evaluation.noise_ceiling.noise_ceiling`); its
    truth is measured on the *other* trials, so that the spread holds both the estimate's
    sampling error and the truth's own. The other trials' means and variances come from the sums
    over all trials less the drawn ones, so a draw costs its ``n_reps`` trials only.
    Both ``(n_draws, channels, times)`` float16 (percent; ±0.03 at 40 %)."""
    from bergforge.evaluation.noise_ceiling import noise_ceiling as estimate
    from bergforge.evaluation.noise_ceiling import summarize_test

    n_images, n_trials = trials.shape[:2]
    reps = min(n_reps, n_trials - 2)
    rest_n = n_trials - reps
    flat = trials.reshape(n_images, n_trials, -1)
    total, total_sq = _sums(flat)
    rows = np.arange(n_images)[:, None]
    diff = np.empty((n_draws, flat.shape[2]), dtype=np.float16)
    true = np.empty_like(diff)
    for k in range(n_draws):
        drawn = np.argsort(rng.random((n_images, n_trials)), axis=1)[:, :reps]
        sample = flat[rows, drawn].astype(np.float64)  # (image, rep, target)
        estimated = estimate(summarize_test(sample))[1]
        rest_mean = (total - sample.sum(axis=1)) / rest_n
        rest_ss = total_sq - (sample**2).sum(axis=1) - rest_n * rest_mean**2
        noise_var = (rest_ss / (rest_n - 1)).mean(axis=0)
        signal_var = np.clip(rest_mean.var(axis=0, ddof=1) - noise_var / rest_n, 0.0, None)
        nc = noise_ceiling(signal_var, noise_var, n_reps)
        diff[k], true[k] = estimated - nc, nc
    shape = (n_draws, *trials.shape[2:])
    return diff.reshape(shape), true.reshape(shape)


def _sums(flat: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per image and target, the float64 sum and sum of squares over trials, a few targets at a
    time (a float64 copy of every trial at once would double the truth's memory)."""
    n_images, _, n_targets = flat.shape
    total, total_sq = np.empty((n_images, n_targets)), np.empty((n_images, n_targets))
    for start in range(0, n_targets, chunk):
        x = flat[:, :, start : start + chunk].astype(np.float64)
        total[:, start : start + chunk] = x.sum(axis=1)
        total_sq[:, start : start + chunk] = (x**2).sum(axis=1)
    return total, total_sq


def write_prepared_truth(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write :func:`prepared_truth`'s arrays atomically as one uncompressed ``.npz``."""
    save_npz(path, **arrays)
