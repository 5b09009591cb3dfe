"""Targets, input functions and constraints of rule ``evaluate_decoder`` (``decode.smk``).

One retrieval evaluation per decoding model (a kind with ``task = "decode"``; every seed's folder
is its own model): the model folder's marker, every subject's prepared (trial-indexed) store, the
stimulus table and the backbone's features (the candidates' embeddings) →
``results/evaluation/{dataset}/{model}/retrieval.json`` and ``retrieval.npz``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge import paths
from bergforge.models.registry import get_kind
from bergforge.workflow.models import ModelEntry, decoding_entries, kind_of_model


def decoder_marker(config: dict[str, Any], entry: ModelEntry) -> str:
    """The marker file (``model.json``) of a decoding model's folder."""
    marker = get_kind(entry.kind, config).fit_outputs[0]
    folder = paths.fill(paths.DATASET_MODEL_DIR, dataset=entry.dataset, model=entry.model)
    return f"{folder}/{marker}"


def retrieval_targets(config: dict[str, Any]) -> list[str]:
    """``retrieval.json`` of every configured decoding model."""
    return [
        paths.fill(paths.RETRIEVAL, dataset=e.dataset, model=e.model)
        for e in decoding_entries(config)
    ]


def decoder_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Input function of ``evaluate_decoder``: the model's marker, every subject's prepared store,
    the stimulus table and the features of the model's backbone."""

    def inputs(wildcards: Any) -> dict[str, Any]:
        entry = kind_of_model(config, wildcards.dataset, wildcards.model)
        subjects = config["datasets"][entry.dataset]["subjects"]
        return {
            "model": decoder_marker(config, entry),
            "prepared": [
                paths.fill(paths.PREPARED_STORE, dataset=entry.dataset, subject=s) for s in subjects
            ],
            "stimuli": paths.fill(paths.STIMULI, dataset=entry.dataset),
            "features": paths.fill(paths.FEATURES, dataset=entry.dataset, backbone=entry.backbone),
        }

    return inputs


def decoder_constraints(config: dict[str, Any]) -> dict[str, str]:
    """Wildcard constraints of ``evaluate_decoder``: the configured decoding models only."""
    from bergforge.workflow.targets import alternation

    entries = decoding_entries(config)
    return {
        "dataset": alternation(sorted({e.dataset for e in entries})),
        "model": alternation(sorted({e.model for e in entries})),
    }


def decoder_labels(config: dict[str, Any], dataset: str, model: str) -> dict[str, Any]:
    """What ``retrieval.json`` says its model is."""
    entry = kind_of_model(config, dataset, model)
    return {
        "dataset": entry.dataset,
        "model": entry.model,
        "kind": entry.kind,
        "backbone": entry.backbone,
        "seed": entry.seed,
    }
