"""File names of an exported model's accuracy plots (no matplotlib: the Snakefile reads them when
it is parsed, and every Snakemake start would pay for the plotting libraries otherwise)."""

from __future__ import annotations

from bergforge.export import layout

MEG_SPLIT_KEYS = ("all_training_splits",) + tuple(
    f"single_training_split_{k}" for k in range(1, layout.N_SINGLE_SPLITS + 1)
)


def plot_names(modality: str, subject: int) -> list[str]:
    """File names of a subject's plots."""
    if modality == "meg":
        return [f"encoding_accuracy_P{subject}_{key}.png" for key in MEG_SPLIT_KEYS]
    return [f"encoding_accuracy_subject-{subject:02d}.png"]


def fmri_plot_names(subject: int) -> list[str]:
    """File names of an fMRI subject's plots in ``encoding_models_accuracy/``
    (:mod:`bergforge.export.fmri_plots` draws them)."""
    tag = f"sub-{subject:02d}"
    return [f"encoding_accuracy_{tag}_glasser_groups.png", f"encoding_accuracy_{tag}_surface.png"]
