"""Helpers of the preprocessing rules: which THINGS-MEG1 datasets start from the published epochs,
and where a subject's raw runs or epochs lie."""

from __future__ import annotations

from typing import Any


def meg_raw_subject_dir(wildcards) -> str:
    """Snakemake input function: the raw folder ``sub-BIGMEG{n}`` of subject ``{subject}`` (``01``)."""
    return f"resources/raw/{wildcards.dataset}/sub-BIGMEG{int(wildcards.subject)}"


def meg_epochs_file(wildcards) -> str:
    """Snakemake input function: the published epochs of subject ``{subject}`` (``01`` → P1)."""
    return (
        f"resources/raw/{wildcards.dataset}/derivatives/preprocessed/"
        f"preprocessed_P{int(wildcards.subject)}-epo.fif"
    )


def meg_datasets(config: dict[str, Any], published_epochs: bool) -> list[str]:
    """THINGS-MEG1 datasets prepared from the published epochs (or, if False, from raw runs)."""
    from bergforge.config import datasets_where
    from bergforge.errors import ConfigError

    meg = datasets_where(config, format="things_meg1")
    chosen = (config.get("preprocess") or {}).get("meg_published_epochs", [])
    wrong = sorted(set(chosen) - set(meg))
    if wrong:
        raise ConfigError(
            f"config: preprocess.meg_published_epochs names {wrong}; expected THINGS-MEG1 "
            f"datasets of this config ({meg})"
        )
    return [d for d in meg if (d in chosen) == published_epochs]
