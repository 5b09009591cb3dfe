"""The dataset-format registry: per format, its modality, target dims, raw reader and preprocessing.

A dataset entry of the config names its ``format``; everything the workflow does with it (which
rules prepare it, which model kinds it gets by default, how its subjects are named in the raw
files, where its images come from) is read from here, never from a second config section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bergforge.errors import ConfigError


@dataclass(frozen=True)
class DatasetFormat:
    """What bergforge knows about one raw-data format."""

    name: str
    modality: str  # meg | eeg | fmri
    #: the prepared arrays are [image, repetition, *target_dims] (layout "images") or
    #: [trial, *target_dims] (layout "trials")
    target_dims: tuple[str, ...]
    sources: tuple[str, ...]  # simulated and/or download
    raw_reader: str  # module that reads the raw files
    preprocessing: str  # module that turns them into prepared stores
    default_kinds: tuple[str, ...]  # model kinds built when a dataset names none
    berg_name: str  # default `train_dataset-{name}` in the exported tree
    #: the stimulus table pools every subject's images, so a new subject can change it
    pooled_stimuli: bool
    images: str  # "folder": image files; "nsd_hdf5": rows of nsd_stimuli.hdf5
    real_dataset: str  # the published dataset of this layout
    #: its subjects: a downloaded dataset's subjects must be among them (simulated: any subject)
    real_subjects: tuple[int, ...]
    #: the prepared store's layout (docs/interfaces.md): "images" (``[image, repetition, …]``,
    #: read by the encoding kinds), "trials" (``[trial, …]`` with a trial table, read by the
    #: decoding kinds) or "fixations" (the trial-indexed store, one trial per fixation, read by the
    #: free-viewing stage only: workflow/rules/free_viewing.smk); the encoding stages (evaluation,
    #: export, summary) read "images" datasets only, the decoding stages "trials" datasets only
    layout: str = "images"
    #: preprocessing variants (``datasets.<name>.preprocess.variant``) that make a dataset of an
    #: image-indexed format a decoding dataset: its stores become trial-indexed ("trials") and it
    #: builds :attr:`decoding_kinds` by default (THINGS-MEG1/EEG2: ``neuralbench``, the windows of
    #: neuralbench's MEG/EEG ``image`` tasks, ``bergforge.preprocess.meeg_decoding``)
    decoding_variants: tuple[str, ...] = ()
    decoding_kinds: tuple[str, ...] = ()

    def raw_subject(self, subject: int) -> str:
        """How the raw files name a subject (``BIGMEG1`` for THINGS-MEG1, ``CSI1`` for BOLD5000,
        ``01`` otherwise)."""
        if self.name == "things_meg1":
            return f"BIGMEG{subject}"
        if self.name == "bold5000":
            return f"CSI{subject}"
        return f"{subject:02d}"


#: the neuralbench-style MEG/EEG decoding variant of THINGS-MEG1 and THINGS-EEG2
NEURALBENCH = "neuralbench"
#: the layout of a free-viewing format's stores: trial-indexed, one trial per fixation
FIXATIONS = "fixations"

FORMATS: dict[str, DatasetFormat] = {
    f.name: f
    for f in (
        DatasetFormat(
            "things_meg1",
            "meg",
            ("channel", "time"),
            ("simulated", "download"),
            "bergforge.datasets.things_meg",
            "bergforge.preprocess.meg",
            ("linear",),
            "things_meg_1",
            False,
            "folder",
            "THINGS-MEG1",
            tuple(range(1, 5)),
            decoding_variants=(NEURALBENCH,),
            decoding_kinds=("simple_conv",),
        ),
        DatasetFormat(
            "things_eeg2",
            "eeg",
            ("channel", "time"),
            ("simulated", "download"),
            "bergforge.datasets.things_eeg2",
            "bergforge.preprocess.eeg",
            ("linear",),
            "things_eeg_2",
            False,
            "folder",
            "THINGS-EEG2",
            tuple(range(1, 11)),
            decoding_variants=(NEURALBENCH,),
            decoding_kinds=("simple_conv",),
        ),
        # BOLD runs + onsets on grayordinates (the simulated NSD-like study): GLMsingle betas
        DatasetFormat(
            "nsd_bold",
            "fmri",
            ("vertex",),
            ("simulated",),
            "bergforge.preprocess.fmri",
            "bergforge.preprocess.glmsingle",
            ("cnn8",),
            "mosaic",
            True,
            "nsd_hdf5",
            "NSD",
            tuple(range(1, 9)),
        ),
        # NSD through MOSAIC: the published GLMsingle betas per subject (HDF5) and nsd_stimuli.hdf5
        DatasetFormat(
            "nsd_mosaic",
            "fmri",
            ("vertex",),
            ("download",),
            "bergforge.datasets.mosaic",
            "bergforge.preprocess.mosaic_betas",
            ("cnn8",),
            "mosaic",
            True,
            "nsd_hdf5",
            "NSD (through MOSAIC)",
            tuple(range(1, 9)),
        ),
        # BOLD5000 (OpenNeuro ds001499) for image decoding: fsnative GIFTI runs projected to
        # fsaverage5, 4-TR windows per trial in the trial-indexed store (bergforge.preprocess)
        DatasetFormat(
            "bold5000",
            "fmri",
            ("vertex", "tr"),
            ("simulated", "download"),
            "bergforge.datasets.bold5000",
            "bergforge.preprocess.bold_prepare",
            ("ridge_decoder",),
            "bold5000",
            True,
            "folder",
            "BOLD5000",
            tuple(range(1, 5)),
            layout="trials",
        ),
        # AVS-like free viewing (BrainEncoding26): fixation-onset MEG epochs of 204 TRIUX
        # gradiometers + a fixation table per subject; scenes from nsd_stimuli.hdf5. AVS is given
        # on request, so it is read from a local copy (source "local"), never downloaded; its
        # models are the free-viewing kinds (`free_viewing.kinds`), not the registry's
        DatasetFormat(
            "avs_fixations",
            "meg",
            ("channel", "time"),
            ("simulated", "local"),
            "bergforge.datasets.avs_fixations",
            "bergforge.preprocess.fixation_epochs",
            (),
            "avs",
            True,
            "nsd_hdf5",
            "AVS (Active Visual Semantics)",
            (),
            layout=FIXATIONS,
        ),
    )
}


def get_format(name: str) -> DatasetFormat:
    """The format called ``name``; one clear error naming the known formats otherwise."""
    if name not in FORMATS:
        raise ConfigError(f"unknown dataset format {name!r}; expected one of {sorted(FORMATS)}")
    return FORMATS[name]


def dataset_format(config: dict[str, Any], dataset: str) -> DatasetFormat:
    """The format of the config's dataset ``dataset``."""
    return get_format(config["datasets"][dataset]["format"])


def dataset_variant(config: dict[str, Any], dataset: str) -> str | None:
    """The decoding variant the dataset asks for (``preprocess.variant``, e.g. ``neuralbench`` on
    a THINGS-EEG2 dataset), or None: the format's own preprocessing."""
    fmt = dataset_format(config, dataset)
    if not fmt.decoding_variants:
        return None
    section = config["datasets"][dataset].get("preprocess") or {}
    variant = section.get("variant") if isinstance(section, dict) else None
    return str(variant) if variant is not None else None


def dataset_layout(config: dict[str, Any], dataset: str) -> str:
    """The prepared layout of the config's dataset ``dataset``: ``"images"`` or ``"trials"``
    (its format's, or "trials" for a decoding variant of an image-indexed format; the one place
    to ask)."""
    if dataset_variant(config, dataset) is not None:
        return "trials"
    return dataset_format(config, dataset).layout


def default_kinds(config: dict[str, Any], dataset: str) -> tuple[str, ...]:
    """The kinds a dataset builds when it names none: its format's, or the decoding variant's."""
    fmt = dataset_format(config, dataset)
    return fmt.decoding_kinds if dataset_variant(config, dataset) else fmt.default_kinds


def datasets_of(
    config: dict[str, Any],
    modality: str | None = None,
    source: str | None = None,
    fmt: str | None = None,
    layout: str | None = None,
) -> list[str]:
    """Names of the config's datasets of that modality, source, format and prepared layout
    (each optional)."""
    return [
        name
        for name, ds in config["datasets"].items()
        if (modality is None or get_format(ds["format"]).modality == modality)
        and (source is None or ds["source"] == source)
        and (fmt is None or ds["format"] == fmt)
        and (layout is None or dataset_layout(config, name) == layout)
    ]


def check_datasets(config: dict[str, Any]) -> None:
    """Each dataset's source must be one its format has (e.g. nsd_bold is only simulated), and a
    downloaded dataset's subjects must be subjects of the published dataset."""
    for name, ds in config["datasets"].items():
        f = get_format(ds["format"])
        if ds["source"] not in f.sources:
            raise ConfigError(
                f"config: datasets.{name} has format {f.name!r} with source {ds['source']!r}; "
                f"that format has source {' or '.join(repr(s) for s in f.sources)}"
            )
        unknown = [s for s in ds["subjects"] if s not in f.real_subjects]
        if ds["source"] == "download" and unknown:
            raise ConfigError(
                f"config: datasets.{name}.subjects has {', '.join(map(str, unknown))}, but "
                f"{f.real_dataset} has subjects {_span(f.real_subjects)} only (source 'download'; "
                "a simulated dataset takes any subject)"
            )
        _check_free_viewing(name, ds, f)
        if "mosaic" in ds and f.name != "nsd_mosaic":
            raise ConfigError(f"config: datasets.{name}.mosaic is only allowed with nsd_mosaic")
        if "preprocess" in ds and f.decoding_variants:
            variant = (ds["preprocess"] or {}).get("variant")
            if variant not in f.decoding_variants:
                raise ConfigError(
                    f"config: datasets.{name}.preprocess.variant = {variant!r}; a {f.name} "
                    f"dataset's own `preprocess` asks for a decoding variant: expected "
                    f"{' or '.join(repr(v) for v in f.decoding_variants)} (the encoding "
                    "preprocessing is the top-level `preprocess` section)"
                )
        elif "preprocess" in ds and dataset_layout(config, name) != "trials":
            raise ConfigError(
                f"config: datasets.{name}.preprocess (the decoding windows) is only allowed with "
                f"a trial-indexed format ({', '.join(trial_formats())}) or a decoding variant of "
                f"{', '.join(variant_formats())}; {f.name} is preprocessed by the top-level "
                "`preprocess` section"
            )


def _check_free_viewing(name: str, ds: dict[str, Any], f: DatasetFormat) -> None:
    """A free-viewing dataset takes ``free_viewing`` (not ``models``); a local copy needs ``path``;
    no other dataset takes either."""
    if f.layout == FIXATIONS:
        if "models" in ds:
            raise ConfigError(
                f"config: datasets.{name}.models: a {f.name} dataset's models are the "
                "free-viewing kinds of `free_viewing.kinds` (ridge_cv, shared); expected "
                "`free_viewing`"
            )
        if ds["source"] == "local" and not ds.get("path"):
            raise ConfigError(
                f"config: datasets.{name} has source 'local' but no `path` (the folder of the "
                "local copy)"
            )
    else:
        for key in ("free_viewing", "path", "local"):
            if key in ds:
                raise ConfigError(
                    f"config: datasets.{name}.{key} is only allowed with format avs_fixations "
                    f"(free viewing); {name!r} is {f.name}"
                )


def variant_formats() -> list[str]:
    """Names of the formats that offer a decoding variant (``preprocess.variant``)."""
    return [f.name for f in FORMATS.values() if f.decoding_variants]


def trial_formats() -> list[str]:
    """Names of the formats whose prepared stores are trial-indexed (decoding datasets)."""
    return [f.name for f in FORMATS.values() if f.layout == "trials"]


def _span(numbers: tuple[int, ...]) -> str:
    """``1–10`` for a run of consecutive numbers, else the list."""
    if list(numbers) == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}–{numbers[-1]}"
    return ", ".join(map(str, numbers))
