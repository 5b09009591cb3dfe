"""Targets and input functions of rule ``export_decoder`` (``export.smk``): every configured
decoding model's folder and ``retrieval.json`` → ``results/berg/decoding_models/modality-{m}/
train_dataset-{dataset}/model-{model}/`` (:mod:`bergforge.export.decoder_layout`; the config's
dataset name, not a BERG name: BERG publishes no decoders)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge import paths
from bergforge.datasets.formats import dataset_format
from bergforge.workflow.decoding import decoder_marker
from bergforge.workflow.models import decoding_entries, kind_of_model

DECODER_FILES = ("bergforge_decoder.json", "SHA256SUMS")


def decoder_export_folder(config: dict[str, Any], dataset: str, model: str) -> str:
    """The exported folder of one decoding model."""
    modality = dataset_format(config, dataset).modality
    return (
        f"{paths.EXPORT_ROOT}/decoding_models/modality-{modality}/train_dataset-{dataset}/"
        f"model-{model}"
    )


def decoder_export_targets(config: dict[str, Any]) -> list[str]:
    """``bergforge_decoder.json`` and ``SHA256SUMS`` of every configured decoding model."""
    return [
        f"{decoder_export_folder(config, e.dataset, e.model)}/{name}"
        for e in decoding_entries(config)
        for name in DECODER_FILES
    ]


def decoder_export_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, str]]:
    """Input function of ``export_decoder``: the model folder's marker, its
    retrieval.json and the targets' features.json (the backbone spec)."""

    def inputs(wildcards: Any) -> dict[str, str]:
        entry = kind_of_model(config, wildcards.dataset, wildcards.model)
        return {
            "model": decoder_marker(config, entry),
            "retrieval": paths.fill(paths.RETRIEVAL, dataset=entry.dataset, model=entry.model),
            "features": paths.fill(paths.FEATURES, dataset=entry.dataset, backbone=entry.backbone),
        }

    return inputs
