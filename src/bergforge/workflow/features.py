"""Input functions of the feature rules (``workflow/rules/features.smk``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge import paths
from bergforge.workflow.models import uses_nsd_images


def feature_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, str]]:
    """Input function of a feature shard: the stimulus table, plus nsd_stimuli.hdf5 for fMRI."""

    def inputs(wildcards: Any) -> dict[str, str]:
        out = {"stimuli": paths.fill(paths.STIMULI, dataset=wildcards.dataset)}
        if uses_nsd_images(config, wildcards.dataset):
            out["images"] = f"{paths.fill(paths.RAW, dataset=wildcards.dataset)}/nsd_stimuli.hdf5"
        return out

    return inputs
