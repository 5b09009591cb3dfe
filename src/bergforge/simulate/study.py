"""Entry points that the simulate rules call: images, latents and one subject of a simulated study.

Each study keeps ``ground_truth/images.tsv`` (one row per image, with the image ``file`` relative
to the dataset folder) and ``ground_truth/latents.npz`` (latents in the rows' order) beside the raw
files, so that tests can compare what the pipeline recovers with what was put in.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.datasets.formats import get_format
from bergforge.errors import ConfigError
from bergforge.simulate.options import check_options, responding_latents, truth_record
from bergforge.simulate.truth import SubjectTruth, image_latents

log = logging.getLogger(__name__)

#: format → (module of bergforge.simulate, its simulation settings class as ``module:Class``),
#: imported when used: the Snakefile's params functions read a study's design through
#: :func:`simulation_params`, and each Snakemake start would otherwise import every simulator
SIMULATORS = {
    "things_meg1": ("things_meg", "things_meg:MegSimulation"),
    "things_eeg2": ("things_eeg2", "things_eeg2:EegSimulation"),
    "bold5000": ("bold5000", "bold5000_settings:Bold5000Simulation"),
}


def settings_class(fmt: str) -> type:
    """The simulation settings class of ``fmt`` (one of :data:`SIMULATORS`), without importing
    a simulator that keeps its settings in a module of their own."""
    module_name, class_name = SIMULATORS[fmt][1].split(":")
    return getattr(importlib.import_module(f"bergforge.simulate.{module_name}"), class_name)


def simulator(fmt: str) -> tuple[Any, type]:
    """(module, settings class) of the simulator of ``fmt`` (one of :data:`SIMULATORS`)."""
    module = importlib.import_module(f"bergforge.simulate.{SIMULATORS[fmt][0]}")
    return module, settings_class(fmt)


def simulation_params(fmt: str, simulation: dict, name: str):
    """The simulation dataclass of a dataset's ``format`` and ``simulation`` config section."""
    if fmt not in SIMULATORS:
        raise ConfigError(
            f"datasets.{name}.format: no simulator for {fmt!r}; expected one of {sorted(SIMULATORS)}"
        )
    cls = settings_class(fmt)
    params = dict(simulation)
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ConfigError(
            f"datasets.{name}.simulation: unknown key(s) {unknown} for format {fmt!r}; "
            f"expected some of {sorted(allowed)}"
        )
    for key in ("photodiode_delay",):
        if key in params:
            params[key] = tuple(params[key])
    sim = cls(**params)
    where = f"datasets.{name}.simulation"
    if hasattr(sim, "check"):  # the format's own checks (they include the truth options')
        sim.check(where)
    else:
        check_options(sim, where)
    return sim


def simulate_images(
    fmt: str, simulation: dict, name: str, raw_dir: Path, table_path: Path
) -> pd.DataFrame:
    """Write a study's images in its real layout, and the ground-truth image table."""
    module, _ = simulator(fmt)
    sim = simulation_params(fmt, simulation, name)
    table = module.write_images(Path(raw_dir), sim)
    table_path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(table_path, sep="\t", index=False)
    log.info("wrote %d images of %s", len(table), name)
    return table


def simulate_latents(
    fmt: str,
    simulation: dict,
    name: str,
    raw_dir: Path,
    table_path: Path,
    out: Path,
    backbone: dict | None = None,
) -> None:
    """Image latents: top principal components of the truth backbone's features of every image
    (``backbone``: the config's entry of the truth backbone, when the config defines or overrides
    it; the registry's entry otherwise)."""
    from bergforge.features.backbones import extract_in_memory

    sim = simulation_params(fmt, simulation, name)
    table = pd.read_csv(table_path, sep="\t")
    files = [Path(raw_dir) / f for f in table.file]
    log.info(
        "extracting %s features of %d images for the ground truth", sim.truth_backbone, len(files)
    )
    features = _one_thread(extract_in_memory, sim.truth_backbone, files, 32, dict(backbone or {}))
    latents = image_latents(features, sim.n_latents)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        np.savez(fh, latents=latents, backbone=sim.truth_backbone, n_features=features.shape[1])


def _one_thread(function, *args):
    """``function(*args)`` with torch on one thread: convolutions give other bits on other thread
    counts, and the ground truth must be the same on every machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return function(*args)
    finally:
        torch.set_num_threads(before)


def simulate_subject(
    fmt: str,
    simulation: dict,
    name: str,
    raw_dir: Path,
    table_path: Path,
    latents_path: Path,
    subject: int,
) -> None:
    """Write the raw recordings and the ground truth of one subject."""
    module, _ = simulator(fmt)
    sim = simulation_params(fmt, simulation, name)
    table = pd.read_csv(table_path, sep="\t", keep_default_na=False)
    with np.load(latents_path) as data:
        latents = data["latents"]
    log.info("simulating subject %d of %s", subject, name)
    module.write_subject(Path(raw_dir), sim, subject, table, latents)


def truth_path(raw_dir: Path, fmt: str, subject: int) -> Path:
    """The simulator's ground truth file of one subject (``ground_truth/sub-…_truth.npz``)."""
    label = get_format(fmt).raw_subject(subject)
    return Path(raw_dir) / "ground_truth" / f"sub-{label}_truth.npz"


def simulate_prepared_truth(
    fmt: str,
    simulation: dict,
    name: str,
    subject: int,
    raw_dir: Path,
    preprocess: dict | None,
    out: Path,
    n_trials: int,
) -> None:
    """The noise ceiling of one subject's prepared test responses (see
    :mod:`bergforge.simulate.prepared_truth`), written to ``out`` with the truth options it holds
    for (:func:`bergforge.simulate.options.truth_record`)."""
    from bergforge.preprocess.params import eeg_params, meg_params
    from bergforge.simulate.prepared_truth import (
        Recording,
        prepared_truth,
        write_prepared_truth,
    )

    sim = simulation_params(fmt, simulation, name)
    raw_dir = Path(raw_dir)
    table = pd.read_csv(raw_dir / "ground_truth" / "images.tsv", sep="\t", keep_default_na=False)
    with np.load(raw_dir / "ground_truth" / "latents.npz") as data:
        latents = data["latents"]
    truth, arrays = SubjectTruth.load(truth_path(raw_dir, fmt, subject))
    latents = responding_latents(latents, arrays)  # the nonlinear truth's driving latents
    test_latents = latents[np.flatnonzero(table.split.to_numpy() == "test")]
    tmax = simulator(fmt)[0].TMAX
    if fmt == "things_meg1":
        modality, params, n_reps = "meg", meg_params(preprocess), sim.n_sessions
        kernel_len = int(round(tmax * sim.sfreq)) + 1
        all_trials = (
            sim.n_train + sim.n_sessions * sim.n_test_images + sim.n_runs * sim.catch_per_run
        )
        per_recording = -(-all_trials // sim.n_runs)  # a run
    else:
        modality, params = "eeg", eeg_params(preprocess)
        n_reps = min(sim.test_reps, params.test_reps or sim.test_reps)
        kernel_len = int(round(tmax * sim.sfreq))
        # a session's test partition (it holds half of the session's targets)
        per_recording = sim.n_test_images * sim.test_reps_per_session + sim.targets_per_session // 2
    # pseudo-studies of n_reps trials drawn from these should overlap little
    n_trials = max(n_trials, 4 * n_reps)
    log.info(
        "prepared truth of %s subject %d: %d trials of each of %d test images",
        name,
        subject,
        n_trials,
        len(test_latents),
    )
    design = Recording(
        modality,
        truth,
        arrays["offset"],
        sim.sfreq,
        sim.soa,
        kernel_len,
        per_recording,
        soa_jitter=getattr(sim, "soa_jitter", 0.0),  # THINGS-MEG1's; EEG2's SOA is fixed
    )
    rng = np.random.default_rng([sim.seed, subject, 31])
    result = prepared_truth(design, test_latents, params, n_reps, rng, n_trials=n_trials)
    write_prepared_truth(out, {**result, **truth_record(sim)})
