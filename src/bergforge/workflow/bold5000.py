"""Config checks, input functions, params and resources of the BOLD5000 rules
(``workflow/rules/decode_prepare.smk``).

The raw tree of a BOLD5000 dataset (``resources/raw/{dataset}/``, ds001499's layout) is what the
preprocessing rules read, whichever route wrote it: per subject ``CSI{n}`` its ``events.tsv``
files (:data:`EVENTS_DIR`), fsnative ``func.gii`` runs (:data:`FMRIPREP_DIR`) and
``surf/{lh,rh}.sphere.reg`` (:data:`FREESURFER_DIR`), and once per dataset the stimulus tree
(:data:`STIMULI_DIR`, with ``repeated_stimuli_113_list.txt``). The rules depend on what each route
declares: the simulator's three folders per subject (``directory()`` outputs), or the download's
per-subject manifest (:data:`DOWNLOAD_MANIFEST`, written when all the subject's files are in
place); the stimulus tree is a folder output of both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge import paths
from bergforge.datasets import bold5000 as b5
from bergforge.datasets.formats import datasets_of
from bergforge.errors import ConfigError

FORMAT = "bold5000"
EVENTS_DIR = paths.RAW + "/sub-CSI{n}"
FMRIPREP_DIR = paths.RAW + "/derivatives/fmriprep/sub-CSI{n}"
FREESURFER_DIR = paths.RAW + "/derivatives/freesurfer/sub-CSI{n}"
STIMULI_DIR = paths.RAW + "/BOLD5000_Stimuli"
#: what the download route (rule download_bold5000_subject) writes last for a subject
DOWNLOAD_MANIFEST = paths.RAW + "/downloads/sub-CSI{n}.tsv"

# Resources at the real size (estimated from the code, not measured by the scale harness;
# bold5000_windows is sized from its run files: bergforge.workflow.resources).
# bold5000_trials reads every events.tsv of the study (CSI1–4: 510 runs, 18,870 trials): < 0.5 GB.
TRIALS_MEM_MB, TRIALS_RUNTIME_MIN = 1000, 15
# simulate_bold5000_subject writes fsaverage5-sized runs (20,484 vertices): one run's signal,
# drift and noise in float64 (≈ 3 × 20,484 × n_volumes × 8 B; ≈ 100 MB at 194 TRs) at a time.
SIMULATE_MEM_MB, SIMULATE_RUNTIME_MIN = 2000, 60


def bold5000_datasets(config: dict[str, Any], source: str | None = None) -> list[str]:
    """The config's BOLD5000 datasets (of ``source`` if given)."""
    return datasets_of(config, source=source, fmt=FORMAT)


def simulation(config: dict[str, Any], name: str) -> Any:
    """The :class:`~bergforge.simulate.bold5000_settings.Bold5000Simulation` of a simulated dataset,
    checked (one :class:`ConfigError` naming the key)."""
    from bergforge.simulate.study import simulation_params

    return simulation_params(FORMAT, config["datasets"][name]["simulation"], name)


def subject_runs(config: dict[str, Any], name: str) -> dict[int, list[list[int]]]:
    """Subject → its ``[session, run]`` pairs: the simulated study's runs, or every
    ``task-5000scenes`` run of the subject's design (downloaded)."""
    ds = config["datasets"][name]
    if ds["source"] == "simulated":
        runs = [list(r) for r in simulation(config, name).runs()]
        return {int(s): runs for s in sorted(ds["subjects"])}
    return {int(s): [list(r) for r in b5.runs_of(int(s))] for s in sorted(ds["subjects"])}


def check_decoding_datasets(config: dict[str, Any]) -> None:
    """Each BOLD5000 dataset: subjects of BOLD5000's design (1–4, also when simulated: the runs
    follow CSI{n}'s sessions), its ``preprocess`` windows, and for a simulated study its
    simulation and that the last trial's window ends inside the simulated runs."""
    names = bold5000_datasets(config)
    if not names:
        return  # nothing imported for other configs (the Snakefile parses faster)
    from bergforge.preprocess.bold_window_settings import window_settings
    from bergforge.preprocess.bold_windows import window_indices

    for name in names:
        ds = config["datasets"][name]
        outside = [s for s in ds["subjects"] if s not in b5.SESSIONS]
        if outside:
            raise ConfigError(
                f"config: datasets.{name}.subjects has {outside}; BOLD5000's design has subjects "
                "1–4 (CSI1–CSI4), also for a simulated study (its runs follow their sessions)"
            )
        where = f"config: datasets.{name}.preprocess"
        window = window_settings(ds.get("preprocess"), where)
        if ds["source"] != "simulated":
            continue
        try:
            sim = simulation(config, name)
        except ConfigError as err:
            raise ConfigError(f"config: {err}") from err
        last_onset = 6.0 + 10.0 * (sim.trials_per_run - 1) + 0.05  # bold5000_design.run_events
        starts, length = window_indices([last_onset], window.tr, window.start, window.duration)
        if starts[0] + length > sim.n_volumes:
            raise ConfigError(
                f"{where}: the last trial's window (onset ≈ {last_onset:g} s + {window.start:g} s, "
                f"{length} TRs) ends at {(starts[0] + length) * window.tr:g} s, after the end of "
                f"the simulated runs ({sim.n_volumes} TRs, {sim.n_volumes * window.tr:g} s); "
                "expected a window that ends within 22 s of the onset"
            )


def _subjects(config: dict[str, Any], dataset: str) -> list[int]:
    return sorted(int(s) for s in config["datasets"][dataset]["subjects"])


def subject_raw(config: dict[str, Any], dataset: str, n: int) -> dict[str, str]:
    """What a route declares for subject ``n``'s raw files: the simulator's folders (events,
    runs, surfaces) or the download's manifest."""
    if config["datasets"][dataset]["source"] == "simulated":
        return {
            "events": EVENTS_DIR.format(dataset=dataset, n=n),
            "runs": FMRIPREP_DIR.format(dataset=dataset, n=n),
            "surfaces": FREESURFER_DIR.format(dataset=dataset, n=n),
        }
    return {"manifest": DOWNLOAD_MANIFEST.format(dataset=dataset, n=n)}


def trials_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, list[str] | str]]:
    """Input function of ``bold5000_trials``: every subject's raw files, the stimulus tree."""

    def inputs(wildcards: Any) -> dict[str, list[str] | str]:
        d = wildcards.dataset
        raw = [f for s in _subjects(config, d) for f in subject_raw(config, d, s).values()]
        return {"raw": raw, "stimuli_tree": STIMULI_DIR.format(dataset=d)}

    return inputs


def trials_runs(config: dict[str, Any]) -> Callable[[Any], dict[int, list[list[int]]]]:
    """Params function of ``bold5000_trials``: subject → its runs (:func:`subject_runs`)."""

    def runs(wildcards: Any) -> dict[int, list[list[int]]]:
        return subject_runs(config, wildcards.dataset)

    return runs


def windows_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, str]]:
    """Input function of ``bold5000_windows``: ``trials.tsv`` and the subject's raw files."""

    def inputs(wildcards: Any) -> dict[str, str]:
        d, n = wildcards.dataset, int(wildcards.subject)
        return {"trials": paths.fill(paths.TRIALS, dataset=d), **subject_raw(config, d, n)}

    return inputs
