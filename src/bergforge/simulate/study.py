"""Entry points that the simulate rules call: images, latents and one subject of a simulated study.

Each study keeps ``ground_truth/images.tsv`` (one row per image, with the image ``file`` relative
to the dataset folder) and ``ground_truth/latents.npz`` (latents in the rows' order) beside the raw
files, so that tests can compare what the pipeline recovers with what was put in.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.errors import ConfigError
from bergforge.simulate import things_eeg2, things_meg
from bergforge.simulate.truth import image_latents

log = logging.getLogger(__name__)

SIMULATORS = {
    "things_meg1": (things_meg, things_meg.MegSimulation),
    "things_eeg2": (things_eeg2, things_eeg2.EegSimulation),
}


def simulation_params(fmt: str, simulation: dict, name: str):
    """The simulation dataclass of a dataset's ``format`` and ``simulation`` config section."""
    if fmt not in SIMULATORS:
        raise ConfigError(
            f"datasets.{name}.format: no simulator for {fmt!r}; expected one of {sorted(SIMULATORS)}"
        )
    cls = SIMULATORS[fmt][1]
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
    return cls(**params)


def simulate_images(
    fmt: str, simulation: dict, name: str, raw_dir: Path, table_path: Path
) -> pd.DataFrame:
    """Write a study's images in its real layout, and the ground-truth image table."""
    module, _ = SIMULATORS[fmt]
    sim = simulation_params(fmt, simulation, name)
    table = module.write_images(Path(raw_dir), sim)
    table_path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(table_path, sep="\t", index=False)
    log.info("wrote %d images of %s", len(table), name)
    return table


def simulate_latents(
    fmt: str, simulation: dict, name: str, raw_dir: Path, table_path: Path, out: Path
) -> None:
    """Image latents: top principal components of the truth backbone's features of every image."""
    from bergforge.features.backbones import extract_in_memory

    sim = simulation_params(fmt, simulation, name)
    table = pd.read_csv(table_path, sep="\t")
    files = [Path(raw_dir) / f for f in table.file]
    log.info(
        "extracting %s features of %d images for the ground truth", sim.truth_backbone, len(files)
    )
    features = extract_in_memory(sim.truth_backbone, files)
    latents = image_latents(features, sim.n_latents)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        np.savez(fh, latents=latents, backbone=sim.truth_backbone, n_features=features.shape[1])


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
    module, _ = SIMULATORS[fmt]
    sim = simulation_params(fmt, simulation, name)
    table = pd.read_csv(table_path, sep="\t", keep_default_na=False)
    with np.load(latents_path) as data:
        latents = data["latents"]
    log.info("simulating subject %d of %s", subject, name)
    module.write_subject(Path(raw_dir), sim, subject, table, latents)
