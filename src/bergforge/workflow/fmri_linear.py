"""The linear encoding path (features → scaler/PCA → regression → evaluation) on fMRI datasets.

An fMRI dataset opts in with ``fmri.datasets.<name>.linear_backbones`` (names under ``backbones``).
Its images come from ``resources/raw/<name>/nsd_stimuli.hdf5`` by ``image_73k_id``; it has one
split, ``all`` (each subject's own training images, all repetitions averaged; all-NaN rows of
images the subject never saw are dropped); the test images are the shared images; targets are
vertices. Helpers here give the rules their wildcard sets and input functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge.errors import ConfigError

#: The one training split of an fMRI linear model (subjects see different images, one showing set).
FMRI_SPLITS: tuple[str, ...] = ("all",)
NSD_IMAGES = "resources/raw/{dataset}/nsd_stimuli.hdf5"


def _fmri(config: dict[str, Any]) -> dict[str, Any]:
    return (config.get("fmri") or {}).get("datasets") or {}


def linear_backbones(config: dict[str, Any], dataset: str) -> list[str]:
    """Backbones of the linear models of fMRI dataset ``dataset`` (none unless configured)."""
    return list(_fmri(config).get(dataset, {}).get("linear_backbones", []))


def linear_fmri_datasets(config: dict[str, Any]) -> list[str]:
    """fMRI datasets that get linear encoding models."""
    return [name for name in _fmri(config) if linear_backbones(config, name)]


def check_linear_backbones(config: dict[str, Any]) -> None:
    """Every ``linear_backbones`` entry must name a backbone of the ``backbones`` section."""
    known = set(config.get("backbones") or {})
    for name in linear_fmri_datasets(config):
        for backbone in linear_backbones(config, name):
            if backbone not in known:
                raise ConfigError(
                    f"config: fmri.datasets.{name}.linear_backbones names {backbone!r}, which is "
                    f"not under `backbones`; expected one of {sorted(known)}"
                )


def feature_datasets(config: dict[str, Any]) -> list[str]:
    """Every dataset the features stage runs on: MEG/EEG datasets and linear fMRI datasets."""
    return list(config["datasets"]) + linear_fmri_datasets(config)


def encoding_splits(config: dict[str, Any], dataset: str) -> tuple[str, ...]:
    """Training splits of ``dataset``'s linear models: ``all`` for fMRI, else all five."""
    from bergforge.models.linear.splits import SPLITS

    return FMRI_SPLITS if dataset in _fmri(config) else SPLITS


def linear_fmri_subjects(config: dict[str, Any]) -> list[str]:
    """``{dataset}/{backbone}/sub-{subject}`` of every linear fMRI model."""
    return [
        f"{name}/{backbone}/sub-{s:02d}"
        for name in linear_fmri_datasets(config)
        for backbone in linear_backbones(config, name)
        for s in _fmri(config)[name]["subjects"]
    ]


def feature_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, str]]:
    """Input function of a feature shard: the stimulus table, plus the NSD images file for fMRI."""

    def inputs(wildcards: Any) -> dict[str, str]:
        out = {"stimuli": f"results/prepared/{wildcards.dataset}/stimuli.tsv"}
        if wildcards.dataset in _fmri(config):
            out["images"] = NSD_IMAGES.format(dataset=wildcards.dataset)
        return out

    return inputs


def split_models(config: dict[str, Any]) -> Callable[[Any], list[str]]:
    """Input function of the evaluation: ``model.json`` of every split of the subject's dataset."""

    def models(wildcards: Any) -> list[str]:
        stem = f"results/models/{wildcards.dataset}/{wildcards.backbone}/sub-{wildcards.subject}"
        return [
            f"{stem}/split-{split}/model.json"
            for split in encoding_splits(config, wildcards.dataset)
        ]

    return models
