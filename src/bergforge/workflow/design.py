"""The recording design a subject's raw files must cover (sessions, runs), per dataset entry.

Simulated datasets take it from their simulation settings, real ones from the published dataset.
The preprocessing rules receive it as a param (it changes what a prepared store holds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge.datasets import things_eeg2, things_meg


def meg_design(dataset: dict[str, Any]) -> tuple[int, int]:
    """(sessions, runs per session) of a THINGS-MEG1 dataset entry (simulated or real)."""
    if dataset.get("source") == "simulated":
        from bergforge.simulate.study import simulation_params

        sim = simulation_params(dataset["format"], dataset["simulation"], "dataset")
        return sim.n_sessions, sim.runs_per_session
    return things_meg.N_SESSIONS, things_meg.RUNS_PER_SESSION


def eeg_design(dataset: dict[str, Any]) -> int:
    """Number of sessions of a THINGS-EEG2 dataset entry (simulated or real)."""
    if dataset.get("source") == "simulated":
        from bergforge.simulate.study import simulation_params

        return simulation_params(dataset["format"], dataset["simulation"], "dataset").n_sessions
    return things_eeg2.N_SESSIONS


def recording_design(config: dict[str, Any]) -> Callable[[Any], dict[str, int]]:
    """Params function of the MEG/EEG preprocessing rules: the dataset's sessions (and runs)."""

    def design(wildcards: Any) -> dict[str, int]:
        ds = config["datasets"][wildcards.dataset]
        if ds["format"] == "things_meg1":
            n_sessions, runs = meg_design(ds)
            return {"n_sessions": n_sessions, "runs_per_session": runs}
        return {"n_sessions": eeg_design(ds)}

    return design
