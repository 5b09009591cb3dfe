"""Config checks, input functions and params of rule ``meeg_decoding_windows``
(``workflow/rules/decode_prepare.smk``): the neuralbench-style decoding variant of THINGS-MEG1 and
THINGS-EEG2 datasets (``datasets.<name>.preprocess: {variant: neuralbench, …}``).

Such a dataset reads the same raw files as the encoding route (simulated or downloaded:
``sub-BIGMEG{n}/`` runs and ``images/`` for THINGS-MEG1, ``raw_data/sub-XX/`` session dicts and
``image_set/`` for THINGS-EEG2) and its stimulus table comes from the same rule; its per-subject
store is the trial-indexed one of :mod:`bergforge.preprocess.meeg_decoding` instead of the
image-indexed one, so the encoding preprocessing rules skip it (:func:`encoding_only`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge.datasets.formats import NEURALBENCH, dataset_layout, dataset_variant
from bergforge.errors import ConfigError

#: the raw folders a subject's recordings and the study's images lie in, per format
RAW_SUBJECT = {
    "things_meg1": "resources/raw/{dataset}/sub-BIGMEG{n}",
    "things_eeg2": "resources/raw/{dataset}/raw_data/sub-{subject:02d}",
}
IMAGES = {
    "things_meg1": "resources/raw/{dataset}/images",
    "things_eeg2": "resources/raw/{dataset}/image_set",
}


def meeg_decoding_datasets(config: dict[str, Any]) -> list[str]:
    """The config's MEG/EEG datasets with the neuralbench decoding variant."""
    return [
        name
        for name, ds in config["datasets"].items()
        if ds["format"] in RAW_SUBJECT and dataset_variant(config, name) == NEURALBENCH
    ]


def encoding_only(config: dict[str, Any], names: list[str]) -> list[str]:
    """``names`` without the decoding (trial-indexed) datasets: what the encoding rules prepare."""
    return [n for n in names if dataset_layout(config, n) == "images"]


def window_section(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The dataset's ``preprocess`` section without ``variant``: the
    :class:`~bergforge.preprocess.meeg_windows.NeuralbenchParams` keys it overrides."""
    section = dict(config["datasets"][dataset].get("preprocess") or {})
    section.pop("variant", None)
    return section


def check_meeg_decoding_datasets(config: dict[str, Any]) -> None:
    """Each neuralbench-variant dataset: its window settings (one error naming the key) and, for
    THINGS-MEG1, raw runs (the published epochs are cut −100…1300 ms at 200 Hz after a 0.1–40 Hz
    band-pass, so they cannot give this variant's windows)."""
    names = meeg_decoding_datasets(config)
    if not names:
        return  # nothing imported for other configs (the Snakefile parses faster)
    from bergforge.preprocess.meeg_windows import neuralbench_params

    published = set((config.get("preprocess") or {}).get("meg_published_epochs") or [])
    for name in names:
        try:
            neuralbench_params(window_section(config, name))
        except ConfigError as err:
            raise ConfigError(f"config: datasets.{name}.{err}") from err
        if name in published:
            raise ConfigError(
                f"config: preprocess.meg_published_epochs names {name!r}, a dataset with "
                f"`preprocess: {{variant: {NEURALBENCH}}}`; its windows are cut from the raw "
                "runs (the published epochs are band-passed at 40 Hz and start at −100 ms): "
                "expected it left out of meg_published_epochs"
            )


def windows_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, str]]:
    """Input function of ``meeg_decoding_windows``: the subject's raw folder, the images."""

    def inputs(wildcards: Any) -> dict[str, str]:
        d, n = wildcards.dataset, int(wildcards.subject)
        fmt = config["datasets"][d]["format"]
        return {
            "raw": RAW_SUBJECT[fmt].format(dataset=d, n=n, subject=n),
            "images": IMAGES[fmt].format(dataset=d),
        }

    return inputs


def windows_params(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Params function of ``meeg_decoding_windows``: the window settings (without ``variant``)."""

    def params(wildcards: Any) -> dict[str, Any]:
        return window_section(config, wildcards.dataset)

    return params
