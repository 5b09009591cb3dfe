"""Tiny multi-subject studies from the EEG simulator's truth (``shared_fraction``) as prepared
stores, for the ``shared`` kind's tests.

Each subject's responses are its simulated truth (:func:`bergforge.simulate.things_eeg2.subject_truth`,
the maps ``√ρ · common + √(1 − ρ) · own``) on a few channels and times, plus Gaussian noise of
the truth's own per-channel sd; the features are a noisy linear image of the latents, the same
images for every subject (as in THINGS-EEG2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from encoding_data import stimuli_table, write_prepared

from bergforge.simulate import things_eeg2

CHANNELS = slice(0, 63, 4)  # 16 of the 63 channels
TIMES = slice(40, 140, 10)  # 10 time points from 0.1 to 0.55 s


@dataclass
class Study:
    features: np.ndarray  # (n_train + n_test, n_features) float32
    stores: dict[int, Path]
    truths: dict[int, np.ndarray]  # true test responses (n_test, channels, times)
    n_train: int
    n_test: int

    def stimuli(self):
        return stimuli_table(self.n_train, self.n_test)


def shared_study(
    folder: Path,
    fraction: float,
    subjects: tuple[int, ...] = (1, 2, 3, 4),
    n_train: int = 240,
    n_test: int = 40,
    n_latents: int = 4,
    n_features: int = 48,
    seed: int = 11,
    drop: dict[int, int] | None = None,
    snr: float = 3.0,
) -> Study:
    """Write one prepared store per subject (2 training, 4 test repetitions) into ``folder``;
    ``drop`` removes one channel (by position) from a subject's store."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    latents = rng.standard_normal((n, n_latents))
    features = latents @ rng.standard_normal((n_latents, n_features))
    features += 0.3 * rng.standard_normal((n, n_features))
    sim = things_eeg2.EegSimulation(
        seed=seed, n_latents=n_latents, shared_fraction=fraction, snr=snr
    )
    times = things_eeg2.prepared_times()[TIMES]
    stores, truths = {}, {}
    for subject in subjects:
        truth = things_eeg2.subject_truth(sim, subject)[0]
        true = truth.responses(latents, times)[:, CHANNELS]  # (n, channels, times)
        sd = truth.noise_sd[CHANNELS][None, None, :, None]
        noise = np.random.default_rng([seed, subject]).standard_normal

        def trials(rows: slice, reps: int, true=true, sd=sd, noise=noise) -> np.ndarray:
            t = true[rows][:, None]
            return t + sd * noise((t.shape[0], reps, *t.shape[2:]))

        train, test = trials(slice(0, n_train), 2), trials(slice(n_train, n), 4)
        names = [things_eeg2.EEG_CHANNELS[i] for i in range(63)[CHANNELS]]
        if drop and subject in drop:
            keep = [i for i in range(len(names)) if i != drop[subject]]
            train, test, names = train[:, :, keep], test[:, :, keep], [names[i] for i in keep]
            true = true[:, keep]
        path = write_prepared(folder / f"sub-{subject:02d}.zarr", train, test, "eeg", subject)
        _name_targets(path, names, times)
        stores[subject], truths[subject] = path, true[n_train:]
    return Study(features.astype(np.float32), stores, truths, n_train, n_test)


def _name_targets(path: Path, channels: list[str], times: np.ndarray) -> None:
    """The store's channel names and times, as the preprocessing records them (re-sealed)."""
    import zarr

    from bergforge.store_checksums import seal_store

    group = zarr.open_group(str(path), mode="r+")
    group.attrs.update({"channels": list(channels), "times": [float(t) for t in times]})
    seal_store(path)


def with_edited_store(study: Study, subject: int, folder: Path, edit) -> Study:
    """A copy of ``study`` whose ``subject`` store is rewritten into ``folder`` with its training
    trials ``[image, repetition, channel, time]`` passed through ``edit`` (names kept)."""
    from bergforge.preprocess.responses import PreparedResponses

    store = PreparedResponses(study.stores[subject])
    train = edit(np.array(store.group["train"][:], dtype=np.float64))
    test = np.array(store.group["test"][:], dtype=np.float64)
    path = write_prepared(folder / f"sub-{subject:02d}.zarr", train, test, "eeg", subject)
    _name_targets(path, store.attrs["channels"], np.asarray(store.attrs["times"]))
    stores = {**study.stores, subject: path}
    return Study(study.features, stores, study.truths, study.n_train, study.n_test)
