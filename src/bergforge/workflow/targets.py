"""Target lists of the workflow, computed from the validated config (used by the Snakefile)."""

from __future__ import annotations

from typing import Any

from bergforge.config import datasets_where


def alternation(names: list[str]) -> str:
    """A wildcard-constraint regex matching exactly ``names`` (and nothing when empty)."""
    return "|".join(names) if names else "(?!x)x"


def subject_label(fmt: str, subject: int) -> str:
    """How a dataset's raw files name a subject (``BIGMEG1`` for THINGS-MEG1, ``01`` otherwise)."""
    return f"BIGMEG{subject}" if fmt == "things_meg1" else f"{subject:02d}"


def simulated_raw_targets(config: dict[str, Any]) -> list[str]:
    """The ground-truth file of every simulated subject (written last by its simulate job)."""
    targets = []
    for name in datasets_where(config, source="simulated"):
        ds = config["datasets"][name]
        for subject in ds["subjects"]:
            label = subject_label(ds["format"], subject)
            targets.append(f"resources/raw/{name}/ground_truth/sub-{label}_truth.npz")
    return targets


def feature_targets(config: dict[str, Any]) -> list[str]:
    """The feature manifest of every configured backbone of every dataset it is built for."""
    from bergforge.features.registry import backbones_for
    from bergforge.workflow.fmri_linear import linear_backbones, linear_fmri_datasets

    return [
        f"results/features/{dataset}/{backbone}/features.json"
        for dataset in config["datasets"]
        for backbone in backbones_for(config, dataset)
    ] + [
        f"results/features/{dataset}/{backbone}/features.json"
        for dataset in linear_fmri_datasets(config)
        for backbone in linear_backbones(config, dataset)
    ]


PREPARED_FORMATS = ("things_meg1", "things_eeg2")


def prepared_targets(config: dict[str, Any]) -> list[str]:
    """The stimulus table and every subject's prepared store of each MEG/EEG dataset."""
    targets = []
    for name, ds in config["datasets"].items():
        if ds["format"] in PREPARED_FORMATS:
            targets.append(f"results/prepared/{name}/stimuli.tsv")
            targets += [f"results/prepared/{name}/sub-{s:02d}.zarr" for s in ds["subjects"]]
    return targets


def _encoded_subjects(config: dict[str, Any]) -> list[str]:
    """``{dataset}/{backbone}/sub-{subject}`` of every MEG/EEG subject × configured backbone,
    then of every fMRI subject × ``linear_backbones`` entry."""
    from bergforge.features.registry import backbones_for
    from bergforge.workflow.fmri_linear import linear_fmri_subjects

    return [
        f"{name}/{backbone}/sub-{s:02d}"
        for name, ds in config["datasets"].items()
        if ds["format"] in PREPARED_FORMATS
        for backbone in backbones_for(config, name)
        for s in ds["subjects"]
    ] + linear_fmri_subjects(config)


def model_targets(config: dict[str, Any]) -> list[str]:
    """model.json of every encoding model: dataset × backbone × subject × split (fMRI: ``all``)."""
    from bergforge.workflow.fmri_linear import encoding_splits

    return [
        f"results/models/{sub}/split-{split}/model.json"
        for sub in _encoded_subjects(config)
        for split in encoding_splits(config, sub.split("/")[0])
    ]


def evaluation_targets(config: dict[str, Any]) -> list[str]:
    """evaluation.npz of every MEG/EEG subject × backbone and every linear fMRI model."""
    return [f"results/evaluation/{sub}/evaluation.npz" for sub in _encoded_subjects(config)]


def export_targets(config: dict[str, Any]) -> list[str]:
    """The BERG tree of every MEG/EEG dataset × backbone: weights, metadata, plots, card."""
    from bergforge.workflow.export import export_targets as berg_tree_targets

    return berg_tree_targets(config)


def release_targets(config: dict[str, Any]) -> list[str]:
    """The release folder and archive of the configured version (target `release`)."""
    from bergforge._version import __version__

    version = config.get("release", {}).get("version", __version__)
    stem = f"results/release/bergforge-models-{version}"
    return [stem, f"{stem}.tar.gz"]


def fmri_targets(config: dict[str, Any]) -> list[str]:
    """The CNN8 model and training summary of every dataset under ``fmri.datasets``."""
    from bergforge.workflow.fmri import fmri_model_targets

    return fmri_model_targets(config)


def fmri_export_targets(config: dict[str, Any]) -> list[str]:
    """Evaluation-backed BERG tree of every fMRI dataset's CNN8: weights, metadata, plots, card."""
    from bergforge.workflow.fmri import fmri_export_targets as fmri_tree

    return fmri_tree(config)


def all_targets(config: dict[str, Any]) -> list[str]:
    """What `rule all` builds: every stage output that exists so far (one line per stage)."""
    targets: list[str] = []
    targets += simulated_raw_targets(config)
    targets += prepared_targets(config)
    targets += feature_targets(config)
    targets += model_targets(config)
    targets += evaluation_targets(config)
    targets += export_targets(config)
    targets += fmri_targets(config)
    targets += fmri_export_targets(config)
    return targets
