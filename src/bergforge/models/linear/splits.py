"""Training splits of a subject: ``all`` plus four ``single`` splits, as BERG defines them.

MEG (one repetition per training image): ``single-k`` is the k-th of four random, non-overlapping
quarters of the training images, drawn with ``np.random.seed(20200220); np.random.permutation(n)``.
EEG (four repetitions per training image): ``single-k`` is training repetition ``k`` of every image.
``all`` uses every training image, averaged over all its repetitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bergforge.errors import ConfigError

BERG_SEED = 20200220
N_SINGLE = 4
SPLITS = ("all",) + tuple(f"single-{k}" for k in range(1, N_SINGLE + 1))


@dataclass(frozen=True)
class TrainingSplit:
    """Which training images and repetitions one split's model is fitted on."""

    name: str
    images: np.ndarray  # sorted row indices into the prepared ``train`` array
    repetitions: np.ndarray  # repetition indices averaged into the target response

    @property
    def n_images(self) -> int:
        return int(self.images.size)


def single_index(split: str) -> int:
    """``single-3`` → 3; raises :class:`ConfigError` for anything but the five split names."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    return 0 if split == "all" else int(split.split("-")[1])


def meg_quarters(n_images: int) -> list[np.ndarray]:
    """BERG's four random non-overlapping quarters of ``n_images`` training trials (unsorted)."""
    perm = np.random.RandomState(BERG_SEED).permutation(n_images)  # == np.random.seed + permutation
    size = n_images // N_SINGLE
    return [perm[k * size : (k + 1) * size] for k in range(N_SINGLE)]


def training_split(modality: str, split: str, n_images: int, n_repetitions: int) -> TrainingSplit:
    """The images and repetitions of ``split`` for a prepared ``train`` array of that shape."""
    k = single_index(split)
    all_reps = np.arange(n_repetitions)
    if k == 0:
        return TrainingSplit(split, np.arange(n_images), all_reps)
    if modality == "eeg":
        if n_repetitions < N_SINGLE:
            raise ConfigError(
                f"split {split!r} of an EEG subject needs {N_SINGLE} training repetitions; "
                f"the prepared store has {n_repetitions}"
            )
        return TrainingSplit(split, np.arange(n_images), np.array([k - 1]))
    return TrainingSplit(split, np.sort(meg_quarters(n_images)[k - 1]), all_reps)
