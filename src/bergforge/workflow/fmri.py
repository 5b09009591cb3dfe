"""Input functions and targets of the export rules of cnn8 models (MOSAIC's layout in BERG's tree)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fmri_datasets(config: dict[str, Any]) -> list[str]:
    """Datasets that build the cnn8 kind (exported as BERG's fMRI CNN8 model)."""
    from bergforge.workflow.models import model_entries

    return list(dict.fromkeys(e.dataset for e in model_entries(config) if e.kind == "cnn8"))


def fmri_berg_name(config: dict[str, Any], name: str) -> str:
    """``train_dataset-{d}`` of an fMRI dataset (its ``name_in_berg``, default ``mosaic``)."""
    from bergforge.export.fmri_names import DEFAULT_BERG_NAME

    return config["datasets"][name].get("name_in_berg", DEFAULT_BERG_NAME)


def fmri_berg_names(config: dict[str, Any]) -> list[str]:
    """The distinct BERG dataset names of the configured fMRI datasets."""
    return sorted({fmri_berg_name(config, n) for n in fmri_datasets(config)})


def fmri_dataset_for(config: dict[str, Any], berg_dataset: str) -> str:
    """The one fMRI dataset exported as ``train_dataset-{berg_dataset}``."""
    from bergforge.errors import ConfigError

    matches = [n for n in fmri_datasets(config) if fmri_berg_name(config, n) == berg_dataset]
    if len(matches) != 1:
        raise ConfigError(
            f"fMRI export: {len(matches)} cnn8 datasets export as "
            f"{berg_dataset!r} ({matches}); give each a distinct 'name_in_berg'"
        )
    return matches[0]


def fmri_model_folder(berg_dataset: str) -> str:
    """``results/berg/encoding_models/modality-fmri/train_dataset-{d}/model-CNN8_…``."""
    from bergforge.export.fmri_names import MODEL_NAME
    from bergforge.export.layout import ModelId

    return ModelId("fmri", berg_dataset, MODEL_NAME).folder("results/berg").as_posix()


def fmri_export_inputs(config: dict[str, Any], what: str) -> Callable[[Any], Any]:
    """Input functions of the fMRI export rules (``weights``, ``metadata`` or ``card``)."""

    def inputs(wildcards: Any) -> Any:
        name = fmri_dataset_for(config, wildcards.berg_dataset)
        model = f"results/models/{name}/CNN8_multihead"
        if what == "weights":
            return {"model": f"{model}/model.pt"}
        if what == "metadata":
            sub = f"sub-{wildcards.subject}"
            return {
                "evaluation": f"results/evaluation/{name}/CNN8_multihead/{sub}/evaluation.npz",
                "store": f"results/prepared/{name}/{sub}.zarr",
                "stimuli": f"results/prepared/{name}/stimuli.tsv",
                "training": f"{model}/training.json",
            }
        return fmri_subject_files(config, name, wildcards.berg_dataset)

    return inputs


def fmri_subject_files(config: dict[str, Any], name: str, berg_dataset: str) -> list[str]:
    """Metadata and plots of every subject of an exported fMRI dataset."""
    from bergforge.export.fmri_names import metadata_relpath
    from bergforge.export.plot_files import fmri_plot_names as plot_names

    folder = fmri_model_folder(berg_dataset)
    files = []
    for s in config["datasets"][name]["subjects"]:
        files.append(f"{folder}/{metadata_relpath(s)}")
        files += [f"{folder}/encoding_models_accuracy/{p}" for p in plot_names(s)]
    return files


def fmri_card_subjects(config: dict[str, Any]) -> Callable[[Any], list[int]]:
    """Params function of the fMRI card rule: the subjects of the exported dataset."""

    def subjects(wildcards: Any) -> list[int]:
        name = fmri_dataset_for(config, wildcards.berg_dataset)
        return sorted(config["datasets"][name]["subjects"])

    return subjects


def fmri_export_targets(config: dict[str, Any]) -> list[str]:
    """The whole BERG tree of the CNN8 model of every fMRI dataset: weights, metadata, plots, card."""
    from bergforge.export.fmri_names import weights_relpath
    from bergforge.export.layout import CARD_MARKDOWN, CARD_YAML

    targets = []
    for name in fmri_datasets(config):
        berg = fmri_berg_name(config, name)
        folder = fmri_model_folder(berg)
        targets.append(f"{folder}/{weights_relpath()}")
        targets += fmri_subject_files(config, name, berg)
        targets += [f"{folder}/{CARD_YAML}", f"{folder}/{CARD_MARKDOWN}"]
    return targets
