"""The job of rule fmri_simulate_study: write a simulated NSD-like study, its summary last."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from bergforge.atomic import save_json
from bergforge.config import dataclass_from_section
from bergforge.simulate.nsd import NsdSimulation, write_study


def simulate_study_job(simulation: dict, subjects: list[int], raw_dir: Path, done: Path) -> None:
    """Write the simulated NSD-like study, then ``done`` (a summary) last."""
    sim = dataclass_from_section(NsdSimulation, simulation, "datasets.<name>.simulation")
    write_study(raw_dir, sim, list(subjects))
    save_json(done, {"subjects": list(subjects), "simulation": asdict(sim)})
