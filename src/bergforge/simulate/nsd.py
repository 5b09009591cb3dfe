"""A simulated NSD-like fMRI study: BOLD time series with single-trial events, and its ground truth.

BOLD of vertex v at volume t is ``meanvol_v · (1 + Σ_trials beta_{v,trial}/100 · hrf_v(t − onset))``
plus a polynomial drift, a low-rank structured noise shared across vertices (what GLMdenoise
removes) and white noise. ``beta`` is in percent signal change; the HRF of each vertex is drawn
from the 20-HRF library of :mod:`bergforge.preprocess.hrf_library`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bergforge.atomic import atomic_file
from bergforge.preprocess import glm_design as dz
from bergforge.preprocess import hrf_library as hl


@dataclass(frozen=True)
class BoldSimulation:
    """Parameters of one simulated session (defaults: tiny, NSD-like timing)."""

    n_vertices: int = 200
    signal_fraction: float = 0.5
    n_conditions: int = 40
    n_repetitions: int = 3
    n_runs: int = 6
    tr: float = 1.0
    stimdur: float = 3.0
    soa: float = 4.0
    null_fraction: float = 0.2  # share of extra blank slots between trials
    rest_end: float = 16.0  # s of rest after the last trial
    beta_mean: float = 2.0  # % signal change of signal vertices (condition mean)
    beta_sd: float = 1.5
    trial_sd: float = 0.0  # trial-to-trial variability of the true betas
    noise_sd: float = 0.6  # % of the mean, white noise
    structured_sd: float = 0.8  # % of the mean, shared noise
    n_structured: int = 3
    drift_sd: float = 1.0  # % of the mean, polynomial drift
    meanvol: float = 1000.0


@dataclass
class SimulatedSession:
    """BOLD runs (vertices × time), designs (time × conditions) and the truth."""

    data: list[np.ndarray]
    design: list[np.ndarray]
    condition_betas: np.ndarray  # (V, conditions), % signal change
    trial_betas: np.ndarray  # (V, trials) chronological, % signal change
    trial_condition: np.ndarray  # (trials,)
    trial_run: np.ndarray  # (trials,)
    hrf_index: np.ndarray  # (V,) library index; meaningful where ``signal``
    signal: np.ndarray  # (V,) bool


def _schedule(sim: BoldSimulation, rng: np.random.Generator) -> list[np.ndarray]:
    """Condition order per run: every condition once per repetition, repetitions in distinct runs."""
    order = np.concatenate([rng.permutation(sim.n_conditions) for _ in range(sim.n_repetitions)])
    return np.array_split(order, sim.n_runs)


def simulate_bold_session(
    sim: BoldSimulation, seed: int, condition_betas: np.ndarray | None = None
) -> SimulatedSession:
    """Simulate one session; ``condition_betas`` (V, conditions) overrides the drawn betas."""
    rng = np.random.default_rng(seed)
    n_signal = int(round(sim.n_vertices * sim.signal_fraction))
    signal = np.zeros(sim.n_vertices, dtype=bool)
    signal[:n_signal] = True
    library = hl.hrf_library()
    hrf_index = rng.integers(0, library.shape[1], sim.n_vertices)
    hrfs = [hl.hrf_at_tr(library[:, h], sim.stimdur, sim.tr) for h in range(library.shape[1])]
    if condition_betas is None:
        condition_betas = rng.normal(sim.beta_mean, sim.beta_sd, (sim.n_vertices, sim.n_conditions))
    condition_betas = np.where(signal[:, None], condition_betas, 0.0)
    data, designs, trial_betas, trial_cond, trial_run = [], [], [], [], []
    for r, conds in enumerate(_schedule(sim, rng)):
        n_slots = int(np.ceil(conds.size * (1 + sim.null_fraction)))
        slots = np.sort(rng.choice(n_slots, conds.size, replace=False))
        onsets = slots * sim.soa
        n_volumes = int(np.ceil((onsets[-1] + sim.stimdur + sim.rest_end) / sim.tr))
        x = dz.design_from_onsets(onsets, conds, n_volumes, sim.n_conditions, sim.tr)
        _, cond_chrono = dz.trial_onsets(x)
        betas = condition_betas[:, cond_chrono]
        betas = betas + signal[:, None] * rng.normal(0, sim.trial_sd, betas.shape)
        response = np.zeros((sim.n_vertices, n_volumes))
        for h in np.unique(hrf_index):
            vox = hrf_index == h
            response[vox] = (dz.single_trial_design(x, hrfs[h]) @ betas[vox].T).T
        poly = dz.polynomial_basis(n_volumes, dz.default_max_poly_degree(n_volumes, sim.tr))
        drift = rng.normal(0, sim.drift_sd, (sim.n_vertices, poly.shape[1] - 1)) @ poly[:, 1:].T
        latent = rng.normal(0, 1, (sim.n_structured, n_volumes))
        latent = np.apply_along_axis(lambda s: np.convolve(s, np.ones(3) / 3, "same"), 1, latent)
        latent /= latent.std(axis=1, keepdims=True)
        loadings = rng.normal(
            0, sim.structured_sd / np.sqrt(sim.n_structured), (sim.n_vertices, sim.n_structured)
        )
        white = rng.normal(0, sim.noise_sd, (sim.n_vertices, n_volumes))
        percent = response + drift * np.sqrt(poly.shape[0]) / 10 + loadings @ latent + white
        data.append((sim.meanvol * (1 + percent / 100)).astype(np.float32))
        designs.append(x)
        trial_betas.append(betas)
        trial_cond.append(cond_chrono)
        trial_run.append(np.full(cond_chrono.size, r))
    return SimulatedSession(
        data,
        designs,
        condition_betas,
        np.hstack(trial_betas),
        np.concatenate(trial_cond),
        np.concatenate(trial_run),
        hrf_index,
        signal,
    )


# --- a whole NSD-like study: images, subjects, runs on real grayordinates, ground truth -------


@dataclass(frozen=True)
class NsdSimulation:
    """A miniature NSD: shared (test) images seen by all, per-subject (train) images, repeats."""

    seed: int = 11
    groups: tuple[int, ...] = (1, 2, 4, 5)
    vertices_per_group: int = 30
    n_shared_images: int = 12
    n_subject_images: int = 36
    n_repetitions: int = 3
    n_sessions: int = 2
    runs_per_session: int = 3
    image_size: int = 64
    n_latents: int = 8
    signal_fraction: float = 0.7
    tr: float = 1.0
    stimdur: float = 3.0
    soa: float = 4.0
    trial_sd: float = 1.0
    noise_sd: float = 0.6
    structured_sd: float = 0.8
    beta_mean: float = 2.0
    beta_sd: float = 1.5


def run_stem(subject: int, session: int, run: int) -> str:
    """``sub-01/ses-01/func/sub-01_ses-01_task-nsdcore_run-01`` (relative to the dataset folder)."""
    s, e = f"sub-{subject:02d}", f"ses-{session:02d}"
    return f"{s}/{e}/func/{s}_{e}_task-nsdcore_run-{run:02d}"


def study_vertices(sim: NsdSimulation) -> np.ndarray:
    """Sorted grayordinates (model space) of the simulated groups, ``vertices_per_group`` each."""
    from bergforge.datasets.grayordinates import grayordinate_space

    space = grayordinate_space()
    rng = np.random.default_rng([sim.seed, 1])
    model = space.vertex_mapping_all
    groups = space.group[model]
    picks = [
        rng.choice(model[groups == g], sim.vertices_per_group, replace=False) for g in sim.groups
    ]
    return np.sort(np.concatenate(picks))


def study_images(sim: NsdSimulation, n_subjects: int) -> np.ndarray:
    """(n, S, S, 3) uint8: shared images first, then each subject's own images."""
    from bergforge.simulate.images import draw_image, make_concepts

    n = sim.n_shared_images + n_subjects * sim.n_subject_images
    concepts = make_concepts(n, sim.seed)
    return np.stack([draw_image(c, sim.seed, i, sim.image_size) for i, c in enumerate(concepts)])


def image_latents(images: np.ndarray, n_latents: int, seed: int) -> np.ndarray:
    """(n, n_latents) z-scored random projections of 8×8-pooled pixels: the image-computable truth."""
    n, size = images.shape[:2]
    block = size // 8
    pooled = images[:, : block * 8, : block * 8].reshape(n, 8, block, 8, block, 3).mean((2, 4))
    x = pooled.reshape(n, -1) / 255.0
    proj = np.random.default_rng([seed, 2]).normal(size=(x.shape[1], n_latents))
    lat = (x - x.mean(0)) @ proj
    return (lat - lat.mean(0)) / lat.std(0)


def write_study(raw_dir: Path, sim: NsdSimulation, subjects: list[int]) -> None:
    """Write ``nsd_stimuli.hdf5``, per-run BOLD (``_bold.npy``) and ``_events.tsv``, ground truth."""
    import json

    import h5py
    import pandas as pd

    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    images = study_images(sim, max(subjects))
    latents = image_latents(images, sim.n_latents, sim.seed)
    vertices = study_vertices(sim)
    with atomic_file(raw_dir / "nsd_stimuli.hdf5") as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("imgBrick", data=images, chunks=(1, *images.shape[1:]))
    (raw_dir / "experiment.json").write_text(
        json.dumps({"tr": sim.tr, "stimdur": sim.stimdur, "grayordinates": vertices.tolist()})
    )
    truth_dir = raw_dir / "ground_truth"
    truth_dir.mkdir(exist_ok=True)
    for subject in subjects:
        own = (
            sim.n_shared_images
            + (subject - 1) * sim.n_subject_images
            + np.arange(sim.n_subject_images)
        )
        rows = np.concatenate([np.arange(sim.n_shared_images), own])  # brick rows of this subject
        rng = np.random.default_rng([sim.seed, 3, subject])
        weights = rng.normal(size=(sim.n_latents, vertices.size)) / np.sqrt(sim.n_latents)
        betas = (latents[rows] @ weights).T * sim.beta_sd + sim.beta_mean  # (V, images)
        bold = BoldSimulation(
            n_vertices=vertices.size,
            signal_fraction=sim.signal_fraction,
            n_conditions=rows.size,
            n_repetitions=sim.n_repetitions,
            n_runs=sim.n_sessions * sim.runs_per_session,
            tr=sim.tr,
            stimdur=sim.stimdur,
            soa=sim.soa,
            trial_sd=sim.trial_sd,
            noise_sd=sim.noise_sd,
            structured_sd=sim.structured_sd,
        )
        session = simulate_bold_session(bold, seed=sim.seed * 1000 + subject, condition_betas=betas)
        order = np.random.default_rng([sim.seed, 4, subject]).permutation(vertices.size)
        session_signal = session.signal[order]  # signal vertices spread over all groups
        for r, (data, design) in enumerate(zip(session.data, session.design, strict=True)):
            ses, run = r // sim.runs_per_session + 1, r % sim.runs_per_session + 1
            stem = raw_dir / run_stem(subject, ses, run)
            stem.parent.mkdir(parents=True, exist_ok=True)
            volume, cond = dz.trial_onsets(design)
            events = pd.DataFrame(
                {
                    "onset": volume * sim.tr,
                    "duration": sim.stimdur,
                    "trial_type": "image",
                    "image_73k_id": rows[cond] + 1,
                    "shared": cond < sim.n_shared_images,
                }
            )
            events.to_csv(f"{stem}_events.tsv", sep="\t", index=False)
            np.save(f"{stem}_bold.npy", data[order])
        true = session.condition_betas[order]
        signal_sd = true.std(axis=1)
        ncsnr = signal_sd / sim.trial_sd
        np.savez(
            truth_dir / f"sub-{subject:02d}.npz",
            grayordinates=vertices,
            image_73k_id=rows + 1,
            condition_betas=true,
            hrf_index=session.hrf_index[order],
            signal=session_signal,
            ncsnr_trial=ncsnr,
            noise_ceiling_trial_1=100 * ncsnr**2 / (ncsnr**2 + 1),
            noise_ceiling_trial_avg=100 * ncsnr**2 / (ncsnr**2 + 1 / sim.n_repetitions),
        )
