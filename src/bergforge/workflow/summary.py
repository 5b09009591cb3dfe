"""Targets, input functions and params of the summary-page rules (``workflow/rules/summary.smk``).

One section per evaluated subject of every configured model (config order: dataset, model,
subject); each section links the export stage's accuracy plots of its model where the export
makes them (linear MEG/EEG models in BERG's layout, cnn8 models in MOSAIC's).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bergforge import paths
from bergforge.datasets.formats import dataset_format
from bergforge.workflow.models import ModelEntry, encoding_entries, kind_of_model


def summary_sections(config: dict[str, Any]) -> list[tuple[ModelEntry, int]]:
    """(model entry, subject) of every section of the page, in page order (encoding models:
    decoders are on the leaderboard only)."""
    return [
        (e, s) for e in encoding_entries(config) for s in config["datasets"][e.dataset]["subjects"]
    ]


def section_file(entry: ModelEntry, subject: int, pattern: str = paths.SUMMARY_SECTION) -> str:
    """``pattern`` (a ``SUMMARY_*`` path) filled for one section."""
    return paths.fill(pattern, dataset=entry.dataset, model=entry.model, subject=subject)


def accuracy_plots(
    config: dict[str, Any], entry: ModelEntry, subject: int
) -> tuple[list[str], list[str]]:
    """The export's accuracy plots of one section: (shown, folded away); empty if it has none."""
    from bergforge.export.plot_files import plot_names
    from bergforge.workflow.export import BERG_ROOT, exported_datasets
    from bergforge.workflow.fmri import fmri_berg_name, fmri_model_folder

    if entry.kind == "linear" and entry.dataset in exported_datasets(config):
        from bergforge.export import layout

        model = layout.model_id_of(config["datasets"][entry.dataset], entry.model)
        folder = model.folder(BERG_ROOT) / layout.ACCURACY_DIR
        names = [(folder / n).as_posix() for n in plot_names(model.modality, subject)]
        return names[:1], names[1:]  # MEG: the all-splits plot first, the single splits folded
    if entry.kind == "cnn8":
        from bergforge.export.plot_files import fmri_plot_names

        folder = fmri_model_folder(fmri_berg_name(config, entry.dataset))
        return [f"{folder}/encoding_models_accuracy/{n}" for n in fmri_plot_names(subject)], []
    return [], []


def _section(config: dict[str, Any], wildcards: Any) -> tuple[ModelEntry, int]:
    return kind_of_model(config, wildcards.dataset, wildcards.model), int(wildcards.subject)


def section_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Input function of ``summary_section``: the evaluation, the prepared store and the plots."""

    def inputs(wildcards: Any) -> dict[str, Any]:
        entry, subject = _section(config, wildcards)
        shown, folded = accuracy_plots(config, entry, subject)
        return {
            "evaluation": paths.fill(
                paths.EVALUATION, dataset=entry.dataset, model=entry.model, subject=subject
            ),
            "prepared": paths.fill(paths.PREPARED_STORE, dataset=entry.dataset, subject=subject),
            "plots": shown,
            "more_plots": folded,
        }

    return inputs


def section_labels(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Params function of ``summary_section``: what the section says its model is."""

    def labels(wildcards: Any) -> dict[str, Any]:
        entry, subject = _section(config, wildcards)
        return {
            "dataset": entry.dataset,
            "modality": dataset_format(config, entry.dataset).modality,
            "kind": entry.kind,
            "backbone": entry.backbone,
            "model": entry.model,
            "subject": subject,
        }

    return labels


def page_inputs(config: dict[str, Any]) -> list[str]:
    """Every ``section.json`` of the page, in page order (inputs of ``summary_page``)."""
    return [section_file(e, s) for e, s in summary_sections(config)]


def summary_targets(config: dict[str, Any]) -> list[str]:
    """The page (its sections and figures come with it); none when nothing is evaluated."""
    return [paths.SUMMARY_PAGE] if summary_sections(config) else []


def config_label(configfiles: list[Any]) -> str:
    """How the page names the run's config files: relative to the working folder when inside it."""
    names = []
    for f in configfiles:
        rel = os.path.relpath(Path(f).absolute())
        names.append(Path(f).name if rel.startswith("..") else Path(rel).as_posix())
    return " + ".join(names) or "(no config file)"
