"""A simulated BOLD5000-like decoding study, written in ds001499's layout.

Images: ``n_test_images`` repeated images (each shown ``test_presentations`` times, listed in
``repeated_stimuli_113_list.txt``) and as many images shown once as the runs have trials left,
drawn by the demo's image simulator into the stimulus tree. Every subject sees the same images in
its own order, ``trials_per_run`` trials per run, onsets every 10 s from 6 s, TR 2 s; its runs are
the first ``runs_per_session`` runs of its first ``n_sessions`` sessions of BOLD5000's design.

Surfaces: a subject's fsnative sphere is fsaverage5's (nilearn's bundled sphere) turned by
``rotation_deg`` about a random axis; its ``{lh,rh}.sphere.reg`` holds the turned coordinates, so
the pipeline's projection undoes the turn.

Responses (percent signal change around 100): vertex ``v`` of trial ``i`` responds with amplitude
``a_v = signal_sd · Σ_j d_j(z_i) K_j(v)`` (``z_i``: the image's latents, top principal components
of ``truth_backbone``'s features; ``d``: identity, or the nonlinear map of ``nonlinear_share``),
convolved with the canonical HRF at the onset; plus a linear drift and white noise (``noise_sd``).
``K_j`` are smooth maps on the registered sphere (Gaussian bumps of 0.2–0.5 rad), the common
map of the study and the subject's own mixed by ``shared_fraction`` (as the MEG/EEG simulators do),
so subjects pooled on fsaverage5 share most of their maps. The truth file keeps the maps on
fsaverage5's vertices, the driving latents and the options: a noise-free decoder's retrieval (the
oracle) follows from them.
"""

from __future__ import annotations

import math
from pathlib import Path

import nibabel.freesurfer as fs
import numpy as np
import pandas as pd

from bergforge.atomic import save_npz, save_text
from bergforge.datasets import bold5000 as b5
from bergforge.preprocess.hrf_library import FINE_DT, canonical_hrf
from bergforge.preprocess.sphere_projection import bundled_sphere
from bergforge.preprocess.surface_runs import write_func_gii
from bergforge.simulate.bold5000_design import image_name, run_events
from bergforge.simulate.bold5000_settings import Bold5000Simulation
from bergforge.simulate.images import draw_image, make_concepts, save_jpeg
from bergforge.simulate.options import study_driving_latents

KINDS = ("coco", "imagenet", "scenes")
#: seeds after the study's ``seed``: the common maps, each subject's maps, noise and order
COMMON_STREAM, SUBJECT_STREAM = 51, 52


def write_images(raw_dir: Path, sim: Bold5000Simulation) -> pd.DataFrame:
    """The study's images in the stimulus tree and the list of repeated images; returns the image
    table (``image_id``, ``kind``, ``split``, ``concept``, ``file`` relative to ``raw_dir``), test
    images first."""
    concepts = make_concepts(max(8, sim.n_test_images), sim.seed)
    rows = []
    for split, count, offset in (
        ("test", sim.n_test_images, 0),
        ("train", sim.n_train_images, 10**5),
    ):
        for k in range(count):
            kind = KINDS[k % 3]
            name = image_name(kind, offset + k)
            concept = concepts[k % len(concepts)]
            path = b5.stimulus_path(raw_dir, kind, name)
            save_jpeg(draw_image(concept, sim.seed, offset + k, sim.image_size), path)
            rows.append((name, kind, split, concept.name, str(path.relative_to(raw_dir))))
    table = pd.DataFrame(rows, columns=["image_id", "kind", "split", "concept", "file"])
    test = table.loc[table.split == "test", "image_id"]
    save_text(raw_dir / b5.REPEATED_LIST, "\n".join(test) + "\n")
    return table


def _rotation(rng: np.random.Generator, degrees: float) -> np.ndarray:
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    a = math.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def _maps(rng: np.random.Generator, directions: np.ndarray, n_maps: int, bumps: int = 3):
    """``[map, vertex]`` smooth maps over unit ``directions``: signed Gaussian bumps in angle,
    each map scaled to unit RMS."""
    out = np.zeros((n_maps, len(directions)))
    for j in range(n_maps):
        for _ in range(bumps):
            centre = rng.standard_normal(3)
            centre /= np.linalg.norm(centre)
            angle = np.arccos(np.clip(directions @ centre, -1.0, 1.0))
            width = rng.uniform(0.2, 0.5)
            out[j] += rng.choice([-1.0, 1.0]) * np.exp(-(angle**2) / (2 * width**2))
        out[j] /= np.sqrt(np.mean(out[j] ** 2))
    return out


def subject_maps(sim: Bold5000Simulation, subject: int, directions: np.ndarray) -> np.ndarray:
    """``[latent, vertex]`` maps of ``subject`` at unit ``directions`` of the registered sphere
    (both hemispheres stacked; the same bumps wherever they are evaluated)."""
    rho = float(sim.shared_fraction)
    common = _maps(np.random.default_rng([sim.seed, COMMON_STREAM]), directions, sim.n_latents)
    own = _maps(
        np.random.default_rng([sim.seed, SUBJECT_STREAM, subject]), directions, sim.n_latents
    )
    return math.sqrt(rho) * common + math.sqrt(1 - rho) * own


def maps_at(
    sim: Bold5000Simulation, subject: int, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """``[latent, vertex]`` maps of ``subject`` at unit directions of the fsaverage sphere, left
    then right (each hemisphere's sphere moved apart before taking directions, so the two get
    different bumps)."""
    out = [
        subject_maps(sim, subject, _unit(d + np.array([sign * 3.0, 0.0, 0.0])))
        for d, sign in ((left, -1.0), (right, 1.0))
    ]
    return np.concatenate(out, axis=1)


def hemisphere_directions() -> list[tuple[np.ndarray, np.ndarray]]:
    """(unit directions, faces) of fsaverage5's left and right sphere."""
    out = []
    for hemi in ("left", "right"):
        coords, faces = bundled_sphere("fsaverage5", hemi)
        out.append((_unit(coords), faces))
    return out


def write_subject(
    raw_dir: Path, sim: Bold5000Simulation, subject: int, table: pd.DataFrame, latents: np.ndarray
) -> None:
    """Events, fsnative GIFTI runs, ``sphere.reg`` files and the ground truth of one subject
    (``latents``: rows of ``table``)."""
    rng = np.random.default_rng([sim.seed, subject])
    driving, _ = study_driving_latents(sim, latents)
    (left, left_faces), (right, right_faces) = hemisphere_directions()
    rotation = _rotation(rng, sim.rotation_deg)
    surf = b5.freesurfer_surf(raw_dir, subject)
    surf.mkdir(parents=True, exist_ok=True)
    for hemi, unit, f in (("lh", left, left_faces), ("rh", right, right_faces)):
        fs.write_geometry(
            str(surf / f"{hemi}.sphere.reg"),
            (100.0 * unit @ rotation.T).astype(np.float32),  # on the fsaverage sphere
            f.astype(np.int32),
        )
    fsnative = maps_at(sim, subject, left @ rotation.T, right @ rotation.T)
    maps = {"lh": fsnative[:, : len(left)], "rh": fsnative[:, len(left) :]}
    order = _trial_order(sim, subject, table)
    hrf = canonical_hrf()
    times = np.arange(sim.n_volumes) * b5.TR
    seen: set[str] = set()
    kinds = dict(zip(table.image_id, table.kind, strict=True))
    rows = {name: k for k, name in enumerate(table.image_id)}
    for k, (session, run) in enumerate(sim.runs()):
        names = order[k * sim.trials_per_run : (k + 1) * sim.trials_per_run]
        events = run_events(subject, session, run, [(kinds[n], n) for n in names], seen, rng)
        save_text(
            b5.events_path(raw_dir, subject, session, run), events.to_csv(sep="\t", index=False)
        )
        design = _hrf_design(times, events["onset"].to_numpy(), hrf)  # [volume, trial]
        drive = driving[[rows[n] for n in names]]  # [trial, latent]
        for hemi, label in (("lh", "L"), ("rh", "R")):
            amplitude = sim.signal_sd * drive @ maps[hemi]  # [trial, vertex]
            signal = (design @ amplitude).T  # [vertex, volume]
            drift = (
                sim.drift_sd
                * rng.standard_normal((signal.shape[0], 1))
                * np.linspace(-1, 1, len(times))
            )
            noise = sim.noise_sd * rng.standard_normal(signal.shape)
            bold = (100.0 + signal + drift + noise).astype(np.float32)
            write_func_gii(b5.surface_run_path(raw_dir, subject, session, run, label), bold, b5.TR)
    truth = raw_dir / "ground_truth" / f"sub-CSI{subject}_truth.npz"
    save_npz(
        truth,
        maps_fsaverage=maps_at(sim, subject, left, right),
        driving_latents=np.asarray(driving, np.float64),
        image_ids=np.asarray(table.image_id, dtype=str),
        signal_sd=np.float64(sim.signal_sd),
        noise_sd=np.float64(sim.noise_sd),
        shared_fraction=np.float64(sim.shared_fraction),
        nonlinear_share=np.float64(sim.nonlinear_share),
        rotation=rotation,
    )


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _trial_order(sim: Bold5000Simulation, subject: int, table: pd.DataFrame) -> list[str]:
    """Image of every trial of the subject: test images ``test_presentations`` times, training
    images once, shuffled."""
    rng = np.random.default_rng([sim.seed, subject, 7])
    test = table.loc[table.split == "test", "image_id"].tolist()
    train = table.loc[table.split == "train", "image_id"].tolist()
    trials = test * sim.test_presentations + train
    return [trials[i] for i in rng.permutation(len(trials))]


def _hrf_design(times: np.ndarray, onsets: np.ndarray, hrf: np.ndarray) -> np.ndarray:
    """``[volume, trial]``: the canonical HRF (peak 1) of each onset sampled at ``times``."""
    fine = np.arange(len(hrf)) * FINE_DT
    shape = hrf / np.abs(hrf).max()
    lag = times[:, None] - onsets[None, :]
    return np.interp(lag, fine, shape, left=0.0, right=0.0)
