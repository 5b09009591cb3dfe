"""A miniature THINGS-MEG1 study: raw FIF runs at 1200 Hz with BIDS-style events, and its images.

Layout written under the dataset's raw folder (mirrors OpenNeuro ds004212, with FIF instead of CTF):

    images/images_meg/{concept}/{concept}_{nn}b.jpg      training images
    images/images_test_meg/{concept}_{nn}s.jpg           test images
    images/images_catch_meg/catch_{nn}.jpg               catch images
    images/image_paths.tsv                               image_nr, split, concept, path
    sub-BIGMEG{n}/ses-{ss}/meg/sub-BIGMEG{n}_ses-{ss}_task-main_run-{rr}_meg.fif
    sub-BIGMEG{n}/ses-{ss}/meg/sub-BIGMEG{n}_ses-{ss}_task-main_run-{rr}_events.tsv
    ground_truth/latents.npz, ground_truth/sub-BIGMEG{n}_truth.npz
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.datasets.sensors import (
    MEG_TRIGGER_CHANNEL,
    MEG_TRIGGER_VALUE,
    meg_sensor_names,
    meg_sensor_positions,
)
from bergforge.simulate.images import draw_image, make_concepts, save_jpeg
from bergforge.simulate.options import (
    draw_subject_truth,
    study_driving_latents,
    subject_truth_arrays,
)
from bergforge.simulate.signals import band_limited_noise
from bergforge.simulate.truth import SubjectTruth

#: Value of the trigger THINGS-MEG1 sends once at the end of every run.
END_OF_RUN_TRIGGER = 32
#: Epoch window of the prepared data and its sampling rate (what the truth is evaluated on).
TMIN, TMAX, PREPARED_SFREQ = -0.1, 1.3, 200.0


@dataclass(frozen=True)
class MegSimulation:
    """Parameters of a simulated THINGS-MEG1-like study (all from config)."""

    seed: int
    n_sessions: int = 4
    runs_per_session: int = 2
    n_train_concepts: int = 48
    images_per_concept: int = 4
    n_test_images: int = 20
    catch_per_run: int = 2
    image_size: int = 256
    sfreq: float = 1200.0
    soa: float = 1.5
    soa_jitter: float = 0.2
    photodiode_delay: tuple[int, int] = (12, 20)
    n_latents: int = 6
    snr: float = 1.0
    noise_sd: float = 2e-13
    truth_backbone: str = "alexnet_untrained"
    nonlinear_share: float = 0.0  # bergforge.simulate.nonlinear (0: the linear truth)
    nonlinear_hidden: int = 32
    shared_fraction: float = 0.0  # SubjectTruth.with_shared (0: independent subjects)

    @property
    def n_train(self) -> int:
        return self.n_train_concepts * self.images_per_concept

    @property
    def n_runs(self) -> int:
        return self.n_sessions * self.runs_per_session


def subject_label(subject: int) -> str:
    """BIDS subject label of THINGS-MEG1 (``BIGMEG1``)."""
    return f"BIGMEG{subject}"


def run_stem(subject: int, session: int, run: int) -> str:
    """Common stem of a run's files, relative to the dataset folder."""
    sub = subject_label(subject)
    return f"sub-{sub}/ses-{session:02d}/meg/sub-{sub}_ses-{session:02d}_task-main_run-{run:02d}"


def prepared_times() -> np.ndarray:
    """The 281 time points (s) of the prepared MEG data: −0.1 … 1.3 at 200 Hz."""
    return np.round(
        TMIN + np.arange(int(round((TMAX - TMIN) * PREPARED_SFREQ)) + 1) / PREPARED_SFREQ, 6
    )


def write_images(raw_dir: Path, sim: MegSimulation) -> pd.DataFrame:
    """Generate the training, test and catch images and ``images/image_paths.tsv``."""
    concepts = make_concepts(sim.n_train_concepts + sim.n_test_images, sim.seed)
    rows = []
    for ci, concept in enumerate(concepts[: sim.n_train_concepts]):
        for k in range(sim.images_per_concept):
            rel = f"images_meg/{concept.name}/{concept.name}_{k + 1:02d}b.jpg"
            rows.append(("train", concept.name, rel, concept, ci * 100 + k))
    for ti, concept in enumerate(concepts[sim.n_train_concepts :]):
        rel = f"images_test_meg/{concept.name}_{ti % 20 + 1:02d}s.jpg"
        rows.append(("test", concept.name, rel, concept, 10**6 + ti))
    catch_concepts = make_concepts(3, sim.seed + 7, prefix="catch")
    for k in range(3):
        rows.append(
            (
                "catch",
                "catch",
                f"images_catch_meg/catch_{k + 1:02d}.jpg",
                catch_concepts[k],
                2 * 10**6 + k,
            )
        )
    table = []
    for nr, (split, name, rel, concept, index) in enumerate(rows, start=1):
        save_jpeg(draw_image(concept, sim.seed, index, sim.image_size), raw_dir / "images" / rel)
        table.append({"image_nr": nr, "split": split, "concept": name, "path": rel})
    df = pd.DataFrame(table)
    df.to_csv(raw_dir / "images" / "image_paths.tsv", sep="\t", index=False)
    df["file"] = "images/" + df.path
    return df


def _schedule(sim: MegSimulation, subject: int, images: pd.DataFrame) -> list[pd.DataFrame]:
    """Trial list per run (in run order): trial_type, image_nr, concept index."""
    rng = np.random.default_rng([sim.seed, subject, 11])
    train = images.loc[images.split == "train", "image_nr"].to_numpy()
    test = images.loc[images.split == "test", "image_nr"].to_numpy()
    catch = images.loc[images.split == "catch", "image_nr"].to_numpy()
    train_chunks = np.array_split(rng.permutation(train), sim.n_runs)
    runs = []
    for s in range(sim.n_sessions):
        test_chunks = np.array_split(rng.permutation(test), sim.runs_per_session)
        for r in range(sim.runs_per_session):
            exp_nrs = train_chunks[s * sim.runs_per_session + r]
            trials = (
                [("exp", nr) for nr in exp_nrs]
                + [("test", nr) for nr in test_chunks[r]]
                + [("catch", catch[rng.integers(len(catch))]) for _ in range(sim.catch_per_run)]
            )
            order = rng.permutation(len(trials))
            runs.append(
                pd.DataFrame([trials[i] for i in order], columns=["trial_type", "image_nr"])
            )
    return runs


def subject_truth(sim: MegSimulation, subject: int) -> tuple[SubjectTruth, np.random.Generator]:
    """A subject's truth and its random stream, positioned after the truth's draws."""
    names = meg_sensor_names()
    rng = np.random.default_rng([sim.seed, subject, 12])
    truth = draw_subject_truth(sim, rng, names, meg_sensor_positions(names), (0.09, 0.5))
    return truth, rng


def write_subject(
    raw_dir: Path, sim: MegSimulation, subject: int, images: pd.DataFrame, latents: np.ndarray
) -> SubjectTruth:
    """Write every run of one subject (FIF + events.tsv) and its ground truth; returns the truth."""
    import mne
    from mne.io.constants import FIFF

    names = meg_sensor_names()
    truth, rng = subject_truth(sim, subject)
    latents, _ = study_driving_latents(sim, latents)  # the latents themselves for a linear truth
    offsets = rng.normal(0, 5 * sim.noise_sd, size=len(names))
    nr_to_row = {nr: i for i, nr in enumerate(images.image_nr)}
    concept_nr = {c: i + 1 for i, c in enumerate(pd.unique(images.concept))}
    kernel_len = int(round(TMAX * sim.sfreq)) + 1
    kernels, evoked = truth.kernels(np.arange(kernel_len) / sim.sfreq)

    info = mne.create_info(
        names + [MEG_TRIGGER_CHANNEL], sim.sfreq, ["mag"] * len(names) + ["stim"]
    )
    with info._unlock():
        for ch in info["chs"][: len(names)]:
            ch["coil_type"] = FIFF.FIFFV_COIL_CTF_GRAD

    for run_index, trials in enumerate(_schedule(sim, subject, images)):
        session, run = divmod(run_index, sim.runs_per_session)
        gaps = sim.soa + rng.uniform(-sim.soa_jitter, sim.soa_jitter, size=len(trials))
        triggers = (
            np.round((1.0 + np.concatenate([[0.0], np.cumsum(gaps[:-1])])) * sim.sfreq)
        ).astype(int)
        delays = rng.integers(
            sim.photodiode_delay[0], sim.photodiode_delay[1] + 1, size=len(trials)
        )
        onsets = triggers + delays
        n_samples = int(onsets[-1] + kernel_len + 2 * sim.sfreq)
        data = band_limited_noise(rng, len(names), n_samples, sim.sfreq, truth.noise_sd)
        data += offsets[:, None]
        for (_, nr), onset in zip(trials.itertuples(index=False), onsets, strict=True):
            z = latents[nr_to_row[nr]]
            data[:, onset : onset + kernel_len] += np.tensordot(z, kernels, axes=(0, 0)) + evoked
        stim = np.zeros((1, n_samples))
        stim[0, triggers] = MEG_TRIGGER_VALUE
        stim[0, n_samples - int(sim.sfreq)] = END_OF_RUN_TRIGGER
        raw = mne.io.RawArray(np.vstack([data, stim]), info, verbose="error")
        raw.set_meas_date(None)
        stem = raw_dir / run_stem(subject, session + 1, run + 1)
        stem.parent.mkdir(parents=True, exist_ok=True)
        raw.save(f"{stem}_meg.fif", overwrite=True, verbose="error")
        concepts = images.concept.to_numpy()
        events = pd.DataFrame(
            {
                "onset": np.round(onsets / sim.sfreq, 6),
                "duration": 0.5,
                "trial_type": trials.trial_type.to_numpy(),
                "things_category_nr": [
                    "n/a" if t == "catch" else concept_nr[concepts[nr_to_row[nr]]]
                    for t, nr in trials.itertuples(index=False)
                ],
                "value": [
                    "n/a" if t == "catch" else nr for t, nr in trials.itertuples(index=False)
                ],
                "sample": onsets,
            }
        )
        events.to_csv(f"{stem}_events.tsv", sep="\t", index=False)

    test_rows = np.flatnonzero(images.split.to_numpy() == "test")
    true_test = truth.responses(latents[test_rows], prepared_times())
    ncsnr, nc = truth.analytic_noise_ceiling(true_test, sim.n_sessions)
    truth.save(
        raw_dir / "ground_truth" / f"sub-{subject_label(subject)}_truth.npz",
        times=prepared_times(),
        test_image_nr=images.image_nr.to_numpy()[test_rows],
        true_response_test=true_test.astype(np.float32),
        offset=offsets,
        ncsnr=ncsnr,
        noise_ceiling=nc,
        n_test_reps=np.int64(sim.n_sessions),
        **subject_truth_arrays(sim, latents),
    )
    return truth
