"""A miniature AVS-like free-viewing MEG study: scenes, fixation tables and continuous TRIUX MEG.

Layout written under the dataset's raw folder::

    nsd_stimuli.hdf5                          ``imgBrick`` (n_scenes, S, S, 3) uint8; NSD id = row
    study.json                                the simulation, its screen geometry and table spec
    sub-{nn}/meg/sub-{nn}_task-avs_meg.fif    continuous MEG, 204 gradiometers, ``sfreq`` Hz
    sub-{nn}/sub-{nn}_fixations.tsv           the fixation table (:data:`TABLE_SPEC` names, s, px)
    ground_truth/sub-{nn}_truth.npz, .json    what each stream contributes (see below)

Every subject views every scene once (its own seeded order), with seeded fixation sequences
(:mod:`bergforge.simulate.avs_gaze`). The MEG is continuous: each fixation adds a response
kernel that lasts ``kernel_duration`` s, longer than a fixation, so successive responses overlap.
A fixation's response is the sum of three **streams**, each a spatial pattern over the 204
gradiometers times a time course: a sharp bump peaking at the stream's latency plus a slow bump
of the opposite sign (``late_ratio`` × a bump peaking at ``late_latency`` s with width
``late_width``, starting after ``latency``, so the value at ``latency`` is the sharp bump's
alone), both :func:`bergforge.simulate.signals.temporal_shape`. The slow part lasts past the
next fixation's onset, as fixation-related MEG responses do:

- ``eye``: the same for every fixation (amplitude ``eye_amplitude``, peak at ``latency`` after
  fixation onset, or after saccade onset = onset − ``saccade_duration`` when ``lock="saccade"``);
- ``foveal``: the crop features ``f`` of the foveal crop (``crop_deg`` wide) through patterns
  ``P_fov`` (``foveal_amplitude``), peak at ``latency`` after fixation onset;
- ``parafoveal``: the crop features of the next target's crop through ``P_par``
  (``parafoveal_amplitude``), peak ``parafoveal_lag`` later; zero for a trial's last fixation.

Crop features: the crop (:mod:`bergforge.features.fixation_crops`, mid-grey padding) resized to
4×4 px, scaled to [−0.5, 0.5] and projected by a fixed seeded matrix (``rng([seed, 31])``) to
``n_latents`` values. Patterns: ``shared_fraction × common + (1 − shared_fraction) × own`` per
subject (common ``rng([seed, 32])``, own ``rng([seed, 33, subject])``), so subjects share
structure. Noise: band-limited (1–25 Hz) Gaussian with std ``noise_sd × scale`` per channel
(``rng([seed, 34, subject])``). The truth npz holds per fixation each stream's own response at
``latency`` after fixation onset (``eye``, ``foveal``, ``parafoveal``: (n_fixations, 204), in
T/m), the noise-free recording at that time (``prepared_signal``: own + overlapping responses,
what a prepared epoch holds at ``latency`` besides noise), the crop features and the patterns;
the json holds each stream's variance across fixations (mean over channels), the noise variance
and the ceiling of the prepared data at ``latency`` (:func:`truth_summary`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.atomic import atomic_file
from bergforge.datasets.screen import ScreenGeometry
from bergforge.datasets.sensors import triux_gradiometer_names, triux_gradiometer_positions
from bergforge.errors import ConfigError
from bergforge.features.fixation_crops import CropSpec, fixation_crops
from bergforge.simulate.avs_gaze import scene_fixations
from bergforge.simulate.images import draw_image, make_concepts
from bergforge.simulate.signals import band_limited_noise, smooth_spatial_patterns, temporal_shape

#: The simulated table's own column names (as a challenge file might name them) and units
TABLE_COLUMNS = {
    "scene": "nsd_id",
    "trial": "trial",
    "fixation": "fix_in_trial",
    "onset": "fix_onset",
    "duration": "fix_duration",
    "x": "fix_x",
    "y": "fix_y",
    "next_x": "next_fix_x",
    "next_y": "next_fix_y",
    "session": "session",
}
STREAMS = ("eye", "foveal", "parafoveal")
FEATURE_PIXELS = 4  # crops are reduced to FEATURE_PIXELS × FEATURE_PIXELS × 3 for the features


@dataclass(frozen=True)
class AvsSimulation:
    """Parameters of a simulated AVS-like study (defaults: a small test study)."""

    seed: int
    train_subjects: tuple[int, ...] = (1, 2, 3, 4)
    heldout_subject: int = 60
    n_scenes: int = 12
    image_size: int = 128
    pixels_per_degree: float = 16.0
    crop_deg: float = 2.0
    scene_duration: float = 4.0
    gap: float = 1.0
    sfreq: float = 500.0
    mean_duration: float = 0.35
    saccade_duration: float = 0.05
    lock: str = "fixation"
    latency: float = 0.11
    width: float = 0.05
    parafoveal_lag: float = 0.02
    late_latency: float = 0.3
    late_width: float = 0.15
    late_ratio: float = -0.5
    kernel_duration: float = 0.8
    eye_amplitude: float = 1.0
    foveal_amplitude: float = 1.0
    parafoveal_amplitude: float = 0.8
    n_latents: int = 4
    shared_fraction: float = 0.7
    scale: float = 1e-12
    noise_sd: float = 1.0

    def __post_init__(self) -> None:
        if self.lock not in ("fixation", "saccade"):
            raise ConfigError(f"lock {self.lock!r}; expected 'fixation' or 'saccade'")
        if self.heldout_subject in self.train_subjects:
            raise ConfigError("the held-out subject must not be a training subject")

    @property
    def subjects(self) -> tuple[int, ...]:
        return (*self.train_subjects, self.heldout_subject)

    @property
    def geometry(self) -> ScreenGeometry:
        return ScreenGeometry(pixels_per_degree=self.pixels_per_degree)


def table_spec_config(sim: AvsSimulation) -> dict[str, Any]:
    """The ``FixationTableSpec.from_config`` entry that reads the simulated tables."""
    return {
        "columns": dict(TABLE_COLUMNS),
        "time_unit": "s",
        "position_unit": "pixels",
        "scene_size_px": [sim.image_size, sim.image_size],
        "screen": {"pixels_per_degree": sim.pixels_per_degree},
    }


def study_scenes(sim: AvsSimulation) -> np.ndarray:
    """(n_scenes, S, S, 3) uint8 NSD-like scenes from the repo's image simulator."""
    concepts = make_concepts(sim.n_scenes, sim.seed)
    return np.stack([draw_image(c, sim.seed, i, sim.image_size) for i, c in enumerate(concepts)])


def subject_fixations(sim: AvsSimulation, subject: int) -> pd.DataFrame:
    """The canonical fixation table of ``subject`` (seconds, scene pixels, ``has_next``)."""
    order = np.random.default_rng([sim.seed, 30, subject]).permutation(sim.n_scenes)
    parts = []
    for trial, scene in enumerate(order, start=1):
        start = sim.gap + (trial - 1) * (sim.scene_duration + sim.gap)
        rng = np.random.default_rng([sim.seed, 30, subject, trial])
        part = scene_fixations(
            rng, start, sim.scene_duration, sim.image_size, sim.mean_duration, sim.saccade_duration
        )
        part.insert(0, "fixation", np.arange(1, len(part) + 1))
        part.insert(0, "trial", trial)
        part.insert(0, "scene", int(scene))
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table["session"] = 1
    table["has_next"] = table["next_x"].notna()
    return table


def crop_features(
    sim: AvsSimulation, table: pd.DataFrame, scenes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Foveal and parafoveal crop features, (n_fixations, n_latents) each (parafoveal 0 when
    there is no next target)."""
    spec = CropSpec(
        size_deg=sim.crop_deg, out_size=FEATURE_PIXELS, streams="dual", last_fixation="mask"
    )
    proj = np.random.default_rng([sim.seed, 31]).normal(size=(FEATURE_PIXELS**2 * 3, sim.n_latents))
    proj *= 4.0 / np.sqrt(proj.shape[0])
    fov = np.zeros((len(table), sim.n_latents))
    par = np.zeros_like(fov)
    for row in range(len(table)):
        fixation = table.iloc[row]
        crops = fixation_crops(scenes[int(fixation["scene"])], fixation, spec, sim.geometry, row)
        fov[row] = (crops.foveal.reshape(-1) / 255.0 - 0.5) @ proj
        if crops.has_next:
            assert crops.parafoveal is not None
            par[row] = (crops.parafoveal.reshape(-1) / 255.0 - 0.5) @ proj
    return fov, par


def subject_patterns(sim: AvsSimulation, subject: int) -> dict[str, np.ndarray]:
    """Spatial patterns per stream: ``eye`` (204,), ``foveal``/``parafoveal`` (n_latents, 204)."""
    pos = triux_gradiometer_positions()
    n = 1 + 2 * sim.n_latents
    common = smooth_spatial_patterns(pos, n, np.random.default_rng([sim.seed, 32]))
    own = smooth_spatial_patterns(pos, n, np.random.default_rng([sim.seed, 33, subject]))
    mix = sim.shared_fraction * common + (1 - sim.shared_fraction) * own
    return {
        "eye": mix[0],
        "foveal": mix[1 : 1 + sim.n_latents],
        "parafoveal": mix[1 + sim.n_latents :],
    }


def stream_kernels(
    sim: AvsSimulation,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
    """Kernel sample times (s from the kernel start), each stream's bump and its start offset
    from fixation onset (negative for a saccade-locked eye component)."""
    times = np.arange(int(round(sim.kernel_duration * sim.sfreq))) / sim.sfreq
    lat = {
        "eye": sim.latency,
        "foveal": sim.latency,
        "parafoveal": sim.latency + sim.parafoveal_lag,
    }
    late = sim.late_ratio * temporal_shape(times, [sim.late_latency], [sim.late_width])[0]
    shapes = {s: temporal_shape(times, [lat[s]], [sim.width])[0] + late for s in STREAMS}
    offset = {s: 0.0 for s in STREAMS}
    if sim.lock == "saccade":
        offset["eye"] = -sim.saccade_duration
    return times, shapes, offset


def subject_recording(sim: AvsSimulation, subject: int, scenes: np.ndarray) -> dict[str, Any]:
    """The continuous data (204, n_samples) in T/m, the fixation table and the truth arrays."""
    table = subject_fixations(sim, subject)
    fov, par = crop_features(sim, table, scenes)
    patterns = subject_patterns(sim, subject)
    amps = {
        "eye": np.full(len(table), sim.eye_amplitude)[:, None] * patterns["eye"][None, :],
        "foveal": sim.foveal_amplitude * fov @ patterns["foveal"],
        "parafoveal": sim.parafoveal_amplitude * par @ patterns["parafoveal"],
    }
    times, shapes, offset = stream_kernels(sim)
    n_samples = int(round((sim.gap + sim.n_scenes * (sim.scene_duration + sim.gap)) * sim.sfreq))
    n_samples += len(times)
    data = np.zeros((len(amps["eye"][0]), n_samples))
    at_latency = {}
    for stream in STREAMS:
        # each stream's own response at `latency` after fixation onset (kernel time latency - offset)
        k = int(round((sim.latency - offset[stream]) * sim.sfreq))
        at_latency[stream] = amps[stream] * shapes[stream][k] * sim.scale
        starts = np.round((table["onset"].to_numpy() + offset[stream]) * sim.sfreq).astype(int)
        for i, s in enumerate(starts):
            data[:, s : s + len(times)] += np.outer(amps[stream][i], shapes[stream]) * sim.scale
    noise_rng = np.random.default_rng([sim.seed, 34, subject])
    noise = band_limited_noise(
        noise_rng, data.shape[0], n_samples, sim.sfreq, sim.noise_sd * sim.scale
    )
    at = np.round((table["onset"].to_numpy() + sim.latency) * sim.sfreq).astype(int)
    truth = {
        **{s: at_latency[s] for s in STREAMS},
        "prepared_signal": data[:, at].T.copy(),
        "foveal_features": fov,
        "parafoveal_features": par,
        **{f"pattern_{s}": patterns[s] for s in STREAMS},
        "signal": data.copy(),
    }
    return {"data": data + noise, "table": table, "truth": truth}


def file_table(table: pd.DataFrame) -> pd.DataFrame:
    """The canonical table under the simulated file's column names (:data:`TABLE_COLUMNS`)."""
    out = table[list(TABLE_COLUMNS)].copy()
    out.columns = [TABLE_COLUMNS[c] for c in out.columns]
    return out


def truth_summary(sim: AvsSimulation, truth: dict[str, np.ndarray], subject: int) -> dict[str, Any]:
    """Per stream the variance across fixations at ``latency`` (mean over channels), the noise
    variance and the ceiling of the prepared data at ``latency``: per channel
    ``r = sqrt(var_signal / (var_signal + var_noise))`` over fixations, where the signal is the
    noise-free recording at ``latency`` after each onset (its own and overlapping responses),
    summarised as the median over channels."""
    noise_var = (sim.noise_sd * sim.scale) ** 2
    signal_var = truth["prepared_signal"].var(axis=0)
    total = signal_var + noise_var
    ceiling = np.sqrt(np.divide(signal_var, total, out=np.zeros_like(total), where=total > 0))
    return {
        "subject": subject,
        "heldout": subject == sim.heldout_subject,
        "latency": sim.latency,
        "stream_variance": {s: float(truth[s].var(axis=0).mean()) for s in STREAMS},
        "stream_mean_square": {s: float((truth[s] ** 2).mean()) for s in STREAMS},
        "noise_variance": float(noise_var),
        "ceiling_r_median": float(np.median(ceiling)),
        "n_fixations": int(len(truth["eye"])),
    }


def write_study(raw_dir: Path | str, sim: AvsSimulation) -> None:
    """Write scenes, per-subject continuous MEG (FIF) and fixation tables, and the truth;
    ``study.json`` last (an interrupted run leaves no study.json)."""
    import h5py
    import mne

    raw_dir = Path(raw_dir)
    scenes = study_scenes(sim)
    with atomic_file(raw_dir / "nsd_stimuli.hdf5") as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("imgBrick", data=scenes, chunks=(1, *scenes.shape[1:]))
    names = triux_gradiometer_names()
    for subject in sim.subjects:
        rec = subject_recording(sim, subject, scenes)
        label = f"sub-{subject:02d}"
        info = mne.create_info(names, sim.sfreq, "grad")
        raw = mne.io.RawArray(rec["data"].astype(np.float32), info, verbose="error")
        fif = raw_dir / label / "meg" / f"{label}_task-avs_meg.fif"
        fif.parent.mkdir(parents=True, exist_ok=True)
        raw.save(fif, overwrite=True, verbose="error")  # as the THINGS-MEG1 simulator saves
        with atomic_file(raw_dir / label / f"{label}_fixations.tsv") as tmp:
            file_table(rec["table"]).to_csv(tmp, sep="\t", index=False, float_format="%.6f")
        truth_dir = raw_dir / "ground_truth"
        truth_dir.mkdir(parents=True, exist_ok=True)
        arrays = {k: v for k, v in rec["truth"].items() if k != "signal"}
        with atomic_file(truth_dir / f"{label}_truth.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        summary = truth_summary(sim, rec["truth"], subject)
        (truth_dir / f"{label}_truth.json").write_text(
            json.dumps(summary, indent=1, sort_keys=True)
        )
    study = {"simulation": asdict(sim), "fixation_table": table_spec_config(sim)}
    with atomic_file(raw_dir / "study.json") as tmp:  # last: the study is complete
        tmp.write_text(json.dumps(study, indent=1, sort_keys=True))
