"""Input functions of the export rules (``workflow/rules/export.smk``), built from the config.

Export paths carry BERG's names (``train_dataset-things_meg_1``, ``P1``/``subject-01``) while the
upstream artifacts carry the config's dataset name and two-digit subjects; these functions map one
onto the other, so the rules stay free of lambdas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge.errors import ConfigError
from bergforge.export import layout
from bergforge.export.plot_files import plot_names

#: bergforge splits each modality's export reads (EEG keeps one model per training repetition).
EXPORT_SPLITS = {"meg": layout.SPLITS, "eeg": layout.SPLITS[1:]}
MODEL_FILES = ("scaler.npz", "pca.npz", "regression.npz", "model.json")
BERG_ROOT = "results/berg"


def exported_datasets(config: dict[str, Any]) -> list[str]:
    """Config datasets whose linear models have a BERG export (MEG and EEG; not a decoding
    variant's, whose models are decoders)."""
    from bergforge.datasets.formats import dataset_layout

    return [
        n
        for n, ds in config["datasets"].items()
        if ds["format"] in layout.MODALITY_OF_FORMAT and dataset_layout(config, n) == "images"
    ]


def linear_backbones(config: dict[str, Any], dataset: str) -> list[str]:
    """Backbones of the dataset's linear models (exported in BERG's linear layout)."""
    from bergforge.workflow.models import model_entries

    return [
        e.backbone
        for e in model_entries(config)
        if e.dataset == dataset and e.kind == "linear" and e.backbone
    ]


def dataset_for(config: dict[str, Any], modality: str, berg_dataset: str) -> str:
    """The config dataset exported as ``modality-{modality}/train_dataset-{berg_dataset}``."""
    matches = [
        n
        for n in exported_datasets(config)
        if layout.MODALITY_OF_FORMAT[config["datasets"][n]["format"]] == modality
        and layout.berg_dataset_name(config["datasets"][n]) == berg_dataset
    ]
    if len(matches) != 1:
        raise ConfigError(
            f"export: {len(matches)} config datasets export as {modality}/{berg_dataset} "
            f"({matches}); each needs a distinct 'name_in_berg'"
        )
    return matches[0]


def export_inputs(config: dict[str, Any], modality: str) -> Callable[[Any], dict[str, Any]]:
    """Input function of ``export_{modality}_subject``: models, evaluation, prepared store, stimuli."""

    def inputs(wildcards) -> dict[str, Any]:
        dataset = dataset_for(config, modality, wildcards.berg_dataset)
        sub = f"sub-{int(wildcards.subject):02d}"
        models = f"results/models/{dataset}/{wildcards.backbone}/{sub}"
        return {
            "models": [
                f"{models}/split-{split}/{name}"
                for split in EXPORT_SPLITS[modality]
                for name in MODEL_FILES
            ],
            "evaluation": f"results/evaluation/{dataset}/{wildcards.backbone}/{sub}/evaluation.npz",
            "prepared": f"results/prepared/{dataset}/{sub}.zarr",
            "stimuli": f"results/prepared/{dataset}/stimuli.tsv",
            "features": f"results/features/{dataset}/{wildcards.backbone}/features.json",
        }

    return inputs


def card_subjects(config: dict[str, Any]) -> Callable[[Any], list[int]]:
    """Params function of ``model_card``: the subjects of the model's dataset."""

    def subjects(wildcards) -> list[int]:
        dataset = dataset_for(config, wildcards.modality, wildcards.berg_dataset)
        return sorted(config["datasets"][dataset]["subjects"])

    return subjects


def card_inputs(config: dict[str, Any]) -> Callable[[Any], list[str]]:
    """Input function of ``model_card``: every subject's metadata file and plots."""

    def inputs(wildcards) -> list[str]:
        model = layout.ModelId(wildcards.modality, wildcards.berg_dataset, wildcards.backbone)
        folder = model.folder(BERG_ROOT).as_posix()
        files = []
        for s in card_subjects(config)(wildcards):
            files.append(
                f"{folder}/{layout.METADATA_DIR}/{layout.metadata_name(model.modality, s)}"
            )
            files += [f"{folder}/{layout.ACCURACY_DIR}/{n}" for n in plot_names(model.modality, s)]
        return files

    return inputs


def export_targets(config: dict[str, Any]) -> list[str]:
    """Every exported file: the BERG trees of linear MEG/EEG models and of cnn8 models."""
    from bergforge.workflow.fmri import fmri_export_targets

    return berg_linear_targets(config) + fmri_export_targets(config) + own_layout_targets(config)


def berg_linear_targets(config: dict[str, Any]) -> list[str]:
    """Every file of the BERG tree: weights, metadata, plots and the card of each model."""
    targets = []
    for name in exported_datasets(config):
        ds = config["datasets"][name]
        for backbone in linear_backbones(config, name):
            model = layout.model_id_of(ds, backbone)
            folder = model.folder(BERG_ROOT).as_posix()
            for s in ds["subjects"]:
                targets += [
                    f"{folder}/{layout.WEIGHTS_DIR}/{n}"
                    for n in layout.weights_names(model.modality, s)
                ]
                targets.append(
                    f"{folder}/{layout.METADATA_DIR}/{layout.metadata_name(model.modality, s)}"
                )
                targets += [
                    f"{folder}/{layout.ACCURACY_DIR}/{n}" for n in plot_names(model.modality, s)
                ]
            targets += [f"{folder}/{layout.CARD_YAML}", f"{folder}/{layout.CARD_MARKDOWN}"]
    return targets


# ------------------------------------------------------------- bergforge's own layout (other kinds)


def own_layout_models(config: dict[str, Any]) -> list[tuple[Any, layout.ModelId]]:
    """(model entry, model id) of every model whose kind BERG's layouts cannot hold."""
    from bergforge.datasets.formats import dataset_format
    from bergforge.models.registry import get_kind
    from bergforge.workflow.models import encoding_entries

    found = []
    for entry in encoding_entries(config):  # decoders are not exported
        if get_kind(entry.kind, config).berg_layout:
            continue
        ds = config["datasets"][entry.dataset]
        fmt = dataset_format(config, entry.dataset)
        berg = ds.get("name_in_berg", fmt.berg_name)
        found.append((entry, layout.ModelId(fmt.modality, berg, entry.model)))
    return found


def _own_model(config: dict[str, Any], wildcards: Any) -> tuple[Any, layout.ModelId]:
    for entry, model_id in own_layout_models(config):
        if (model_id.modality, model_id.dataset, model_id.backbone) == (
            wildcards.modality,
            wildcards.berg_dataset,
            wildcards.model,
        ):
            return entry, model_id
    raise ConfigError(
        f"export: no model {wildcards.modality}-{wildcards.berg_dataset}-{wildcards.model} "
        "of a kind exported in bergforge's own layout is configured"
    )


def own_layout_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Input function of ``export_own_model``: model folders, stores, evaluations, features."""
    from bergforge import paths
    from bergforge.workflow.models import model_files

    def inputs(wildcards: Any) -> dict[str, Any]:
        entry, _ = _own_model(config, wildcards)
        subjects = config["datasets"][entry.dataset]["subjects"]
        out: dict[str, Any] = {
            "models": [f for s in subjects for f in model_files(config, entry, s)],
            "prepared": [
                paths.fill(paths.PREPARED_STORE, dataset=entry.dataset, subject=s) for s in subjects
            ],
            "evaluation": [
                paths.fill(
                    paths.EVALUATION_SUMMARY, dataset=entry.dataset, model=entry.model, subject=s
                )
                for s in subjects
            ],
        }
        if entry.backbone:
            out["features"] = paths.fill(
                paths.FEATURES, dataset=entry.dataset, backbone=entry.backbone
            )
        return out

    return inputs


def own_layout_params(config: dict[str, Any]) -> dict[str, Callable[[Any], Any]]:
    """Params of ``export_own_model``: kind, model id, subjects and the (subject, split) keys."""
    from bergforge.datasets.formats import dataset_format
    from bergforge.models.registry import get_kind

    def kind(wildcards: Any) -> str:
        return _own_model(config, wildcards)[0].kind

    def model_id(wildcards: Any) -> str:
        return str(_own_model(config, wildcards)[1])

    def subjects(wildcards: Any) -> list[int]:
        return list(config["datasets"][_own_model(config, wildcards)[0].dataset]["subjects"])

    def model_keys(wildcards: Any) -> list[list[Any]]:
        entry, _ = _own_model(config, wildcards)
        k = get_kind(entry.kind, config)
        splits = k.splits(dataset_format(config, entry.dataset).modality)
        return [[s, split] for s in subjects(wildcards) for split in splits]

    return {"kind": kind, "model_id": model_id, "subjects": subjects, "model_keys": model_keys}


def own_layout_targets(config: dict[str, Any]) -> list[str]:
    """``bergforge_model.json`` and ``SHA256SUMS`` of every own-layout model folder."""
    targets = []
    for _, model_id in own_layout_models(config):
        folder = model_id.folder(BERG_ROOT).as_posix()
        targets += [f"{folder}/bergforge_model.json", f"{folder}/SHA256SUMS"]
    return targets
