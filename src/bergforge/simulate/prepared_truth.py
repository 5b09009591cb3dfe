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
(``resampled_difference``), so that an estimate can be called right or wrong "within sampling
error".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bergforge.atomic import save_npz
from bergforge.simulate.signals import band_limited_noise, noise_ceiling
from bergforge.simulate.truth import SubjectTruth

log = logging.getLogger(__name__)

#: simulated trials per test image, at least 4 × the repetitions the study has
DEFAULT_TRIALS = 32
#: pseudo-studies drawn from the simulated trials to measure the estimate's sampling spread
RESAMPLES = 20


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
    modality (which preprocessing applies), sampling rate, SOA, response length (samples) and the
    number of trials in one of the study's recordings (simulated recordings are as long, so that
    the band-pass meets the same edges: a 0.03 Hz high-pass is longer than a demo EEG partition)."""

    modality: str
    truth: SubjectTruth
    offsets: np.ndarray
    sfreq: float
    soa: float
    kernel_len: int
    trials_per_recording: int


def recording(
    design: Recording, rng: np.random.Generator, trial_latents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A continuous recording (channels × samples) with one trial per row of ``trial_latents``,
    ``soa`` apart after 1 s of lead-in, and the onset sample of every trial."""
    truth, sfreq, kernel_len = design.truth, design.sfreq, design.kernel_len
    onsets = np.round((1.0 + np.arange(len(trial_latents)) * design.soa) * sfreq).astype(int)
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
        "resampled_difference": resampled_differences(trials, n_reps, rng),
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
) -> np.ndarray:
    """Estimated − true noise ceiling on ``n_draws`` pseudo-studies: each takes ``n_reps`` of the
    simulated trials per image, puts them through the study's estimate
    (:func:`bergforge.evaluation.noise_ceiling.noise_ceiling`) and compares it with the truth
    measured on the *other* trials, so that the spread holds both the estimate's sampling error
    and the truth's own. ``(n_draws, channels, times)`` float32."""
    from bergforge.evaluation.noise_ceiling import noise_ceiling as estimate
    from bergforge.evaluation.noise_ceiling import summarize_test

    n_images, n_trials = trials.shape[:2]
    reps = min(n_reps, n_trials - 2)
    rows = np.arange(n_images)[:, None]
    out = np.empty((n_draws, *trials.shape[2:]), dtype=np.float32)
    for k in range(n_draws):
        order = np.stack([rng.permutation(n_trials) for _ in range(n_images)])
        sample, rest = trials[rows, order[:, :reps]], trials[rows, order[:, reps:]]
        estimated = estimate(summarize_test(sample.reshape(n_images, reps, -1)))[1]
        _, signal_var, noise_var = variances(rest)
        true = noise_ceiling(signal_var, noise_var, n_reps)
        out[k] = estimated.reshape(trials.shape[2:]) - true
    return out


def write_prepared_truth(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write :func:`prepared_truth`'s arrays atomically as one uncompressed ``.npz``."""
    save_npz(path, **arrays)
