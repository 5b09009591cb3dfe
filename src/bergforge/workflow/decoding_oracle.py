"""Targets, input functions, constraints and the job of rule ``decoding_oracle`` (``decode.smk``).

Every simulated decoding dataset (format ``bold5000``, source ``simulated``) × backbone its
decoders take as targets gets the oracle of the study
(:func:`bergforge.simulate.decoding_oracle.write_oracle`): every subject's ground-truth file,
the stimulus table and the backbone's features → ``results/evaluation/{dataset}/oracle-{backbone}/
oracle.json``, which the decoding leaderboard shows beside the decoders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bergforge import paths
from bergforge.workflow.models import decoding_entries

#: the formats whose simulator records the driving latents the oracle needs
ORACLE_FORMATS = ("bold5000",)


def oracle_entries(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(dataset, backbone) of every simulated decoding dataset × its decoders' backbones."""
    out = []
    for entry in decoding_entries(config):
        ds = config["datasets"][entry.dataset]
        if ds["source"] == "simulated" and ds["format"] in ORACLE_FORMATS and entry.backbone:
            out.append((entry.dataset, entry.backbone))
    return list(dict.fromkeys(out))


def oracle_path(dataset: str, backbone: str) -> str:
    """``oracle.json`` of a dataset × backbone."""
    return paths.fill(paths.DECODING_ORACLE, dataset=dataset, backbone=backbone)


def oracle_targets(config: dict[str, Any]) -> list[str]:
    """``oracle.json`` of every :func:`oracle_entries` pair."""
    return [oracle_path(d, b) for d, b in oracle_entries(config)]


def truth_files(config: dict[str, Any], dataset: str) -> list[str]:
    """The simulator's ground-truth file of every subject of ``dataset``."""
    from bergforge.workflow.targets import subject_label

    ds = config["datasets"][dataset]
    return [
        f"resources/raw/{dataset}/ground_truth/sub-{subject_label(ds['format'], s)}_truth.npz"
        for s in ds["subjects"]
    ]


def oracle_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Input function of ``decoding_oracle``: every subject's truth, the stimulus table and the
    backbone's features."""

    def inputs(wildcards: Any) -> dict[str, Any]:
        return {
            "truths": truth_files(config, wildcards.dataset),
            "stimuli": paths.fill(paths.STIMULI, dataset=wildcards.dataset),
            "features": paths.fill(
                paths.FEATURES, dataset=wildcards.dataset, backbone=wildcards.backbone
            ),
        }

    return inputs


def oracle_constraints(config: dict[str, Any]) -> dict[str, str]:
    """Wildcard constraints of ``decoding_oracle``: the :func:`oracle_entries` only."""
    from bergforge.workflow.targets import alternation

    entries = oracle_entries(config)
    return {
        "dataset": alternation(sorted({d for d, _ in entries})),
        "backbone": alternation(sorted({b for _, b in entries})),
    }


def decoding_oracle_job(
    config: dict[str, Any],
    wildcards: dict[str, str],
    truths: list[Path],
    stimuli: Path,
    features: Path,
    out: Path,
) -> dict[str, Any]:
    """Write the oracle of one dataset × backbone (labels: dataset, model ``oracle-{backbone}``,
    kind ``oracle``, backbone, the dataset's subjects)."""
    from bergforge.features.image_rows import open_embeddings
    from bergforge.simulate.decoding_oracle import write_oracle

    dataset, backbone = wildcards["dataset"], wildcards["backbone"]
    table, embeddings = open_embeddings(stimuli, features)
    labels = {
        "dataset": dataset,
        "model": f"oracle-{backbone}",
        "kind": "oracle",
        "backbone": backbone,
        "seed": None,
        "subjects": [int(s) for s in config["datasets"][dataset]["subjects"]],
    }
    return write_oracle(truths, table, embeddings, out, labels)
