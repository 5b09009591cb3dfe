"""The scale harness's cases: one per rule (and dataset) of the real configurations.

A case writes its synthetic inputs for one fraction of the real size (``prepare``, in a child
process of its own), runs the rule's job function on them (``run``, in a fresh child whose peak
memory is measured) and sizes them with the sizing function the workflow uses
(:mod:`bergforge.workflow.resources`), so that the fitted coefficients are in the units the rules'
resource functions read. The cases themselves live in ``scale_fmri``, ``scale_things``,
``scale_linear``, ``scale_trained``, ``scale_decoding``, ``scale_meeg`` and
``scale_free_viewing``; this module holds their common shape and the registry.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bergforge.workflow.resources import (
    COEFFICIENTS,
    Size,
    declared_mem_mb,
    declared_runtime,
)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "things_meg": "config/things_meg.yaml",
    "things_eeg": "config/things_eeg.yaml",
    "things_eeg_dec": "config/things_eeg_decoding.yaml",
    "nsd": "config/nsd_mosaic.yaml",
    "bold5000": "config/bold5000.yaml",
}


#: the fractions of the cases whose inputs take minutes to write or whose job takes minutes at
#: 1/2 (NSD betas, MEG epochs, EEG raw partitions, the linear fits): the whole harness stays
#: under an hour on 2 cores; their peak and time are linear in the size, so 1/4 is far enough
QUICK_FRACTIONS = (1 / 16, 1 / 8, 1 / 4)


@dataclass(frozen=True)
class Case:
    """One rule's job on one real dataset, at any fraction of its real size."""

    name: str  # unique, e.g. "fit_linear[meg]"
    rule: str  # the rule (a key of bergforge.workflow.resources.JOBS)
    variant: str  # the COEFFICIENTS row suffix the measurement gives (meg, eeg, fmri, cpu)
    dataset: str  # which real dataset and config
    unit: str  # what Size.units counts
    work_unit: str  # what Size.work counts
    real: Size  # the real job's size in those units (computed from the real shapes)
    prepare: Callable[[Path, float, Path], dict]  # (point folder, fraction, cache) → job args
    run: Callable[[dict], dict | None]  # runs the job function; may return extra numbers
    size: Callable[[dict], Size]  # the workflow's sizing of the written inputs
    disk_gb: Callable[[float], float]  # disk one point needs
    fractions: tuple[float, ...] = (1 / 8, 1 / 4, 1 / 2)
    note: str = ""
    full_allowed: bool = True  # False: the full size is out of reach on 2 cores (see note)
    gpu_variant: str | None = None  # a GPU row estimated from FLOPs (cuda)
    gpu_real: Size | None = None  # the real job's size on a GPU host
    gpu_note: str = ""
    gpu_host_extra_mb: float = 0.0  # host memory a CUDA context adds (estimate)
    #: variants no real configuration (config/*.yaml) runs, e.g. a kind the harness adds or a
    #: device the config does not train on: their ≤ 16 GB verdict says "(not configured)"
    not_configured: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


class Inputs(dict):
    """A job's input paths by name, read like Snakemake's ``input`` (``x.name``, ``x["name"]``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(name) from err


DEVICE_VARIABLE = "BERGFORGE_SCALE_DEVICE"


def harness_device() -> str:
    """The device the jobs that have a cuda path run on (``scale.py --device``; default cpu)."""
    return os.environ.get(DEVICE_VARIABLE, "cpu")


@cache
def real_config(dataset: str) -> dict:
    """A real configuration, validated as the workflow reads it."""
    from bergforge.config import load_config

    return load_config(REPO / CONFIGS[dataset])


def merged_config(dataset: str, overrides: dict | None = None) -> dict:
    """A real configuration with ``overrides`` merged into it (nested keys replaced one by one)."""

    def merge(base: dict, extra: dict) -> dict:
        out = dict(base)
        for key, value in extra.items():
            both = isinstance(value, dict) and isinstance(out.get(key), dict)
            out[key] = merge(out[key], value) if both else value
        return out

    return merge(real_config(dataset), overrides or {})


def workflow_size(
    rule: str, dataset: str, wildcards: dict, inputs: dict, overrides: dict | None = None
) -> Size:
    """The size :mod:`bergforge.workflow.resources` gives a job with these inputs."""
    from bergforge.workflow.resources import JOBS

    w = SimpleNamespace(dataset=dataset, **wildcards)
    return JOBS[rule].size(merged_config(dataset, overrides), w, Inputs(inputs))


def declared(case: Case, gpu: bool = False) -> tuple[int | None, int | None]:
    """(mem_mb, runtime) the rule declares for the real job, from the coefficient table (its
    GPU variant's row with ``gpu``)."""
    variant, real = (
        (case.gpu_variant, case.gpu_real or case.real) if gpu else (case.variant, case.real)
    )
    model = COEFFICIENTS.get(f"{case.rule}/{variant}")
    if model is None:
        return None, None
    return declared_mem_mb(model.peak_mb(real)), declared_runtime(model.seconds(real))


@cache
def all_cases() -> list[Case]:
    """Every case, NSD first, then MEG/EEG preprocessing, then features and linear models, then
    the trained kinds (mlp, shared), then the BOLD5000 decoding route, then MEG/EEG decoding, then
    free viewing (AVS)."""
    from scale_decoding import DECODING_CASES
    from scale_fmri import FMRI_CASES
    from scale_free_viewing import FREE_VIEWING_CASES
    from scale_linear import LINEAR_CASES
    from scale_meeg import MEEG_DECODING_CASES
    from scale_things import THINGS_CASES
    from scale_trained import TRAINED_CASES

    return [
        *FMRI_CASES,
        *THINGS_CASES,
        *LINEAR_CASES,
        *TRAINED_CASES,
        *DECODING_CASES,
        *MEEG_DECODING_CASES,
        *FREE_VIEWING_CASES,
    ]


def case_by_name(name: str) -> Case:
    for case in all_cases():
        if case.name == name:
            return case
    raise KeyError(f"no case {name!r}; known: {[c.name for c in all_cases()]}")


def limit_verdict(case: Case, variant: str | None, peak_mb: float, limit_mb: float) -> str:
    """``yes``/``NO`` for a predicted peak against the limit, with ``(not configured)`` for a
    variant no real configuration runs."""
    verdict = "yes" if peak_mb <= limit_mb else "NO"
    return f"{verdict} (not configured)" if variant in case.not_configured else verdict
