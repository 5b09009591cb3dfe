"""Helpers of ``workflow/rules/download.smk``: which datasets download, and each job's files."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bergforge.datasets import sources
from bergforge.preprocess.design import meg_datasets
from bergforge.workflow.resources import declared_runtime

#: Download rate assumed to size a BOLD5000 subject's job (an assumption, not a measurement:
#: the job is bound by the network; its runtime is only a scheduling hint, it runs locally)
BOLD5000_ASSUMED_BYTES_PER_S = 20e6
#: Outputs of the BOLD5000 download rules: a subject's manifest (written when all its files are in
#: place under resources/raw/{dataset}/, ds001499's layout) and the unpacked stimulus tree
BOLD5000_SUBJECT_MANIFEST = "resources/raw/{dataset}/downloads/sub-CSI{subject}.tsv"
BOLD5000_STIMULI = "resources/raw/{dataset}/BOLD5000_Stimuli"


def download_datasets(config: dict[str, Any], fmt: str | None = None) -> list[str]:
    """Datasets with ``source: download`` (of format ``fmt`` if given)."""
    return [
        name
        for name, ds in config["datasets"].items()
        if ds["source"] == "download" and fmt in (None, ds["format"])
    ]


def meg_download_datasets(config: dict[str, Any], published_epochs: bool) -> list[str]:
    """THINGS-MEG1 download datasets prepared from the published epochs (or from raw runs)."""
    chosen = set(meg_datasets(config, published_epochs=published_epochs))
    return [d for d in download_datasets(config, "things_meg1") if d in chosen]


def single_file_pattern(config: dict[str, Any]) -> str:
    """Wildcard constraint of ``{path}`` in rule download_file: every catalogue file's path."""
    names = download_datasets(config)
    files = [f for name in names for f in sources.single_files(config["datasets"][name])]
    return sources.path_pattern(sorted(set(files), key=lambda f: f.local))


def catalogue_entry(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Params function: the catalogue entry and base URLs of ``{dataset}``/``{path}``."""

    def entry(wildcards: Any) -> dict[str, Any]:
        ds = config["datasets"][wildcards.dataset]
        file = sources.find_file(ds, wildcards.path)
        return {
            "url": file.url(sources.base_urls(ds)),
            "file": asdict(file),
            "base_urls": sources.base_urls(ds),
        }

    return entry


def download_options(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Params function: the base URLs of ``{dataset}`` (config ``download``).

    Retries and backoff change no file (every file is verified), so they are no params: the job
    reads them when it runs (:func:`download_runtime`).
    """

    def options(wildcards: Any) -> dict[str, Any]:
        return {"base_urls": sources.base_urls(config["datasets"][wildcards.dataset])}

    return options


def download_runtime(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """``retries`` and ``backoff`` for ``dataset``: its config ``download`` entry or the default."""
    import inspect

    from bergforge.config import runtime_settings
    from bergforge.datasets.fetch import fetch_file

    defaults = inspect.signature(fetch_file).parameters
    return {
        **{k: defaults[k].default for k in ("retries", "backoff")},
        **runtime_settings(config, f"datasets/{dataset}/download"),
    }


def things_image_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Input function of rule unpack_things_meg_images: zips, password, sample attributes."""

    def inputs(wildcards: Any) -> dict[str, Any]:
        root = f"resources/raw/{wildcards.dataset}"
        files = sources.things_image_files()
        subjects = config["datasets"][wildcards.dataset]["subjects"]
        return {
            "password": f"{root}/{files[0].local}",
            "zips": [f"{root}/{f.local}" for f in files[1:]],
            "attributes": [f"{root}/{sources.meg_sample_attributes(s).local}" for s in subjects],
        }

    return inputs


def meg_epoch_part_outputs() -> dict[str, Any]:
    """Outputs of rule download_meg_epochs: the main epochs file and its split parts."""
    folder = "resources/raw/{dataset}/derivatives/preprocessed"
    return {
        "main": f"{folder}/preprocessed_P{{n}}-epo.fif",
        "parts": [
            f"{folder}/preprocessed_P{{n}}-epo-{k}.fif"
            for k in range(1, sources.MEG_EPOCH_PARTS + 1)
        ],
    }


def bold5000_disk_mb(wildcards: Any) -> int:
    """Disk a BOLD5000 subject's download takes (MB, from ds001499's published sizes)."""
    return math.ceil(sources.bold5000_subject_bytes(int(wildcards.subject)) / 1e6)


def bold5000_runtime(wildcards: Any) -> int:
    """Runtime (min) of a BOLD5000 subject's download at :data:`BOLD5000_ASSUMED_BYTES_PER_S`."""
    size = sources.bold5000_subject_bytes(int(wildcards.subject))
    return declared_runtime(size / BOLD5000_ASSUMED_BYTES_PER_S)
