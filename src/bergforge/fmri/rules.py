"""Helpers of ``workflow/rules/fmri.smk``: dataset names and per-subject input lists from config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fmri_datasets(config: dict[str, Any], source: str | None = None) -> list[str]:
    """Names under ``fmri.datasets`` (optionally only those with the given ``source``)."""
    datasets = config.get("fmri", {}).get("datasets", {})
    return [n for n, ds in datasets.items() if source is None or ds.get("source") == source]


def fmri_subject_paths(config: dict[str, Any], pattern: str) -> Callable[[Any], list[str]]:
    """Input function: ``pattern`` for every subject of the rule's ``fmri_dataset``."""

    def paths(wildcards: Any) -> list[str]:
        name = wildcards.fmri_dataset
        subjects = config["fmri"]["datasets"][name]["subjects"]
        return [pattern.format(fmri_dataset=name, subject=f"{s:02d}") for s in subjects]

    return paths


def fmri_model_targets(config: dict[str, Any]) -> list[str]:
    """The CNN8 model and training summary of every fMRI dataset."""
    return [
        f"results/models/{name}/CNN8_multihead/{leaf}"
        for name in fmri_datasets(config)
        for leaf in ("model.pt", "training.json")
    ]
