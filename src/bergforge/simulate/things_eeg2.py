"""A miniature THINGS-EEG2 study: per-session raw dicts at 1000 Hz, and its image set.

Layout written under the dataset's raw folder (mirrors the OSF components of THINGS-EEG2):

    image_set/training_images/{nnnnn}_{concept}/{concept}_{nn}b.jpg
    image_set/test_images/{nnnnn}_{concept}/{concept}_{nn}s.jpg
    image_set/image_metadata.npy                     dict: {train,test}_img_{files,concepts}
    raw_data/sub-{nn}/ses-{nn}/raw_eeg_training.npy  pickled dict: raw_eeg_data (64, N), ch_names,
    raw_data/sub-{nn}/ses-{nn}/raw_eeg_test.npy      ch_types, sfreq, highpass, lowpass
    ground_truth/latents.npz, ground_truth/sub-{nn}_truth.npz

Condition codes on the ``stim`` row: 1-based index into the sorted training (or test) images, and
99999 for target trials. ``raw_eeg_data`` is stored as float32 to keep the demo small (the published
files hold float64); readers cast to float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.datasets.sensors import EEG_CHANNELS, EEG_TARGET_CODE, eeg_positions
from bergforge.simulate.images import draw_image, make_concepts, save_jpeg
from bergforge.simulate.options import (
    draw_subject_truth,
    study_driving_latents,
    subject_truth_arrays,
)
from bergforge.simulate.signals import band_limited_noise
from bergforge.simulate.truth import SubjectTruth

TMIN, TMAX, PREPARED_SFREQ = -0.1, 0.6, 200.0


@dataclass(frozen=True)
class EegSimulation:
    """Parameters of a simulated THINGS-EEG2-like study (all from config)."""

    seed: int
    n_sessions: int = 4
    n_train_concepts: int = 40
    images_per_concept: int = 5
    sessions_per_train_image: int = 2
    train_reps_per_session: int = 2
    n_test_images: int = 20
    test_reps_per_session: int = 5
    targets_per_session: int = 6
    image_size: int = 256
    sfreq: float = 1000.0
    soa: float = 0.75
    n_latents: int = 6
    snr: float = 1.0
    noise_sd: float = 4e-6
    truth_backbone: str = "alexnet_untrained"
    nonlinear_share: float = 0.0  # bergforge.simulate.nonlinear (0: the linear truth)
    nonlinear_hidden: int = 32
    shared_fraction: float = 0.0  # SubjectTruth.with_shared (0: independent subjects)

    @property
    def n_train(self) -> int:
        return self.n_train_concepts * self.images_per_concept

    @property
    def train_reps(self) -> int:
        return self.sessions_per_train_image * self.train_reps_per_session

    @property
    def test_reps(self) -> int:
        return self.n_sessions * self.test_reps_per_session


def session_dir(subject: int, session: int) -> str:
    """A session's folder relative to the dataset folder."""
    return f"raw_data/sub-{subject:02d}/ses-{session:02d}"


def prepared_times() -> np.ndarray:
    """The 140 time points (s) of the prepared EEG data: −0.1 … 0.595 at 200 Hz."""
    return np.round(
        TMIN + np.arange(int(round((TMAX - TMIN) * PREPARED_SFREQ))) / PREPARED_SFREQ, 6
    )


def write_images(raw_dir: Path, sim: EegSimulation) -> pd.DataFrame:
    """Generate training and test images and ``image_set/image_metadata.npy``; returns the table.

    The table has one row per image in condition-code order (training first), with columns
    ``split``, ``code`` (1-based within the split), ``concept`` and ``path`` (under ``image_set/``).
    """
    concepts = make_concepts(sim.n_train_concepts + sim.n_test_images, sim.seed)
    train_concepts = sorted(concepts[: sim.n_train_concepts], key=lambda c: c.name)
    test_concepts = sorted(concepts[sim.n_train_concepts :], key=lambda c: c.name)
    rows = []
    for ci, concept in enumerate(train_concepts, start=1):
        for k in range(sim.images_per_concept):
            rel = f"training_images/{ci:05d}_{concept.name}/{concept.name}_{k + 1:02d}b.jpg"
            rows.append(("train", concept, rel, ci * 100 + k))
    for ci, concept in enumerate(test_concepts, start=1):
        rel = f"test_images/{ci:05d}_{concept.name}/{concept.name}_{ci:02d}s.jpg"
        rows.append(("test", concept, rel, 10**6 + ci))
    records = []
    for split, concept, rel, index in rows:
        save_jpeg(draw_image(concept, sim.seed, index, sim.image_size), raw_dir / "image_set" / rel)
        records.append({"split": split, "concept": concept.name, "path": rel})
    table = pd.DataFrame(records)
    table.insert(1, "code", table.groupby("split").cumcount() + 1)
    table["file"] = "image_set/" + table.path
    meta = {}
    for split, key in (("train", "train"), ("test", "test")):
        part = table[table.split == split]
        meta[f"{key}_img_files"] = np.asarray([p.split("/", 2)[2] for p in part.path])
        meta[f"{key}_img_concepts"] = np.asarray([p.split("/")[1] for p in part.path])
    with open(raw_dir / "image_set" / "image_metadata.npy", "wb") as fh:
        np.save(fh, meta, allow_pickle=True)
    return table


def _session_codes(sim: EegSimulation, subject: int) -> list[dict[str, np.ndarray]]:
    """Condition codes per session and partition, in presentation order (targets = 99999)."""
    rng = np.random.default_rng([sim.seed, subject, 21])
    concept_sessions = [
        (np.arange(sim.sessions_per_train_image) + c) % sim.n_sessions
        for c in range(sim.n_train_concepts)
    ]
    sessions = []
    for s in range(sim.n_sessions):
        train_codes = [
            c * sim.images_per_concept + k + 1
            for c in range(sim.n_train_concepts)
            if s in concept_sessions[c]
            for k in range(sim.images_per_concept)
        ]
        train = np.repeat(train_codes, sim.train_reps_per_session)
        test = np.repeat(np.arange(1, sim.n_test_images + 1), sim.test_reps_per_session)
        half = sim.targets_per_session // 2
        parts = {}
        for name, codes, n_targets in (
            ("training", train, sim.targets_per_session - half),
            ("test", test, half),
        ):
            codes = np.concatenate([codes, np.full(n_targets, EEG_TARGET_CODE)])
            parts[name] = codes[rng.permutation(len(codes))]
        sessions.append(parts)
    return sessions


def subject_truth(sim: EegSimulation, subject: int) -> tuple[SubjectTruth, np.random.Generator]:
    """A subject's truth and its random stream, positioned after the truth's draws."""
    names = list(EEG_CHANNELS)
    rng = np.random.default_rng([sim.seed, subject, 22])
    truth = draw_subject_truth(sim, rng, names, eeg_positions(names)[:, :2], (0.08, 0.35))
    return truth, rng


def write_subject(
    raw_dir: Path, sim: EegSimulation, subject: int, images: pd.DataFrame, latents: np.ndarray
) -> SubjectTruth:
    """Write the 4 sessions × 2 partitions of raw dicts of one subject and its ground truth."""
    names = list(EEG_CHANNELS)
    truth, rng = subject_truth(sim, subject)
    latents, nonlinear = study_driving_latents(sim, latents)  # themselves for a linear truth
    offsets = rng.normal(0, 10 * sim.noise_sd, size=len(names))
    kernel_len = int(round(TMAX * sim.sfreq))
    kernels, evoked = truth.kernels(np.arange(kernel_len) / sim.sfreq)
    train_rows = np.flatnonzero(images.split.to_numpy() == "train")
    test_rows = np.flatnonzero(images.split.to_numpy() == "test")
    target_latent = np.random.default_rng([sim.seed, 98]).standard_normal(sim.n_latents)
    if nonlinear is not None:  # target trials respond through the same function
        target_latent = nonlinear.apply(target_latent[None])[0]

    for s, parts in enumerate(_session_codes(sim, subject), start=1):
        for partition, codes in parts.items():
            rows = train_rows if partition == "training" else test_rows
            onsets = (np.round((1.0 + np.arange(len(codes)) * sim.soa) * sim.sfreq)).astype(int)
            n_samples = int(onsets[-1] + kernel_len + sim.sfreq)
            data = band_limited_noise(rng, len(names), n_samples, sim.sfreq, truth.noise_sd)
            data += offsets[:, None]
            for code, onset in zip(codes, onsets, strict=True):
                z = target_latent if code == EEG_TARGET_CODE else latents[rows[code - 1]]
                data[:, onset : onset + kernel_len] += (
                    np.tensordot(z, kernels, axes=(0, 0)) + evoked
                )
            stim = np.zeros((1, n_samples))
            stim[0, onsets] = codes
            raw = {
                "raw_eeg_data": np.vstack([data, stim]).astype(np.float32),
                "ch_names": names + ["stim"],
                "ch_types": ["eeg"] * len(names) + ["stim"],
                "sfreq": sim.sfreq,
                "highpass": 0.01,
                "lowpass": 100.0,
            }
            path = raw_dir / session_dir(subject, s) / f"raw_eeg_{partition}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                np.save(fh, raw, allow_pickle=True)

    true_test = truth.responses(latents[test_rows], prepared_times())
    ncsnr, nc = truth.analytic_noise_ceiling(true_test, sim.test_reps)
    truth.save(
        raw_dir / "ground_truth" / f"sub-{subject:02d}_truth.npz",
        times=prepared_times(),
        true_response_test=true_test.astype(np.float32),
        offset=offsets,
        ncsnr=ncsnr,
        noise_ceiling=nc,
        n_test_reps=np.int64(sim.test_reps),
        **subject_truth_arrays(sim, latents),
    )
    return truth
