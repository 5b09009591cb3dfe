"""Which models the config asks for, and the target lists and input functions of the model rules.

A dataset builds the kinds named under ``datasets.<name>.models`` (default: its format's kinds);
each kind's settings are ``models.<kind>`` updated by the dataset's own entry. A kind that reads
features is built once per backbone (``backbones`` of its settings, default every backbone the
dataset gets); its model name (the folder under ``results/models/{dataset}/``) comes from the kind.
A seeded kind (``seeded = True``: its settings take ``seed``) with a ``seeds`` list is built once
per seed too, each in its own folder ``{model}_seed{seed}`` with that ``seed`` setting.

Every model is fitted by its kind's fit rule. Encoding models (:func:`encoding_entries`) are then
evaluated per subject, exported and shown on the summary page; decoding models
(:func:`decoding_entries`, kinds with ``task = "decode"``) are evaluated by image retrieval
instead (:mod:`bergforge.workflow.decoding`, rule ``evaluate_decoder``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bergforge import paths
from bergforge.config import runtime_settings, strip_runtime
from bergforge.datasets.formats import (
    dataset_format,
    dataset_layout,
    dataset_variant,
    default_kinds,
    get_format,
    trial_formats,
    variant_formats,
)
from bergforge.errors import ConfigError
from bergforge.models.folder_checksums import MANIFEST as MODEL_MANIFEST
from bergforge.models.kind import ModelKind, kind_task
from bergforge.models.registry import get_kind

#: Keys of a kind's settings that choose what is built, not how a model is fitted
#: (``unseen_subjects``: the held-out subjects of a kind with ``unseen_subjects = True``;
#: ``seeds``: one model folder per seed).
SELECTION_KEYS = ("backbones", "unseen_subjects", "seeds")
#: the setting each entry of ``seeds`` becomes in its model's fit
SEED_SETTING = "seed"


@dataclass(frozen=True)
class ModelEntry:
    """One model the config asks for: a kind on a dataset (and a backbone, for feature kinds)."""

    dataset: str
    kind: str
    backbone: str | None
    model: str  # folder name under results/models/{dataset}/
    seed: int | None = None  # one of the kind's ``seeds`` (its fit's ``seed`` setting), or None


def dataset_kinds(config: dict[str, Any], dataset: str) -> dict[str, dict[str, Any]]:
    """Kind name → the dataset's own settings of it (the format's default kinds if none)."""
    entry = config["datasets"][dataset].get("models")
    if entry is None:
        return {k: {} for k in default_kinds(config, dataset)}
    return {k: dict(v or {}) for k, v in entry.items()}


def kind_settings(config: dict[str, Any], dataset: str, kind: str) -> dict[str, Any]:
    """The result-changing settings of ``kind`` on ``dataset``: ``models.<kind>`` updated by the
    dataset's entry, without the selection keys (these are the fit rule's params)."""
    merged = strip_runtime(dict((config.get("models") or {}).get(kind) or {}), f"models/{kind}")
    merged.update(strip_runtime(dataset_kinds(config, dataset).get(kind, {}), f"models/{kind}"))
    return {k: v for k, v in merged.items() if k not in SELECTION_KEYS}


def entry_settings(config: dict[str, Any], entry: ModelEntry) -> dict[str, Any]:
    """The fit settings of one model: :func:`kind_settings` with the entry's ``seed``, if any."""
    settings = kind_settings(config, entry.dataset, entry.kind)
    if entry.seed is not None:
        settings[SEED_SETTING] = entry.seed
    return settings


def kind_seeds(config: dict[str, Any], dataset: str, kind: str) -> list[int] | None:
    """The ``seeds`` list of ``kind`` on ``dataset`` (the dataset's entry over ``models.<kind>``),
    or None: one model with the kind's own ``seed`` setting."""
    own = dataset_kinds(config, dataset).get(kind, {})
    shared = (config.get("models") or {}).get(kind) or {}
    chosen = own.get("seeds", shared.get("seeds"))
    if chosen is None:
        return None
    return checked_seeds(
        chosen, f"config: datasets.{dataset}.models.{kind}.seeds (or models.{kind}.seeds)"
    )


def checked_seeds(chosen: Any, where: str) -> list[int]:
    """A ``seeds`` list: non-empty, distinct integers ≥ 0; else one :class:`ConfigError` naming
    ``where``."""
    if (
        not isinstance(chosen, list)
        or not chosen
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in chosen)
        or len(set(chosen)) != len(chosen)
    ):
        raise ConfigError(
            f"{where} = {chosen!r}; expected a non-empty list of distinct integers ≥ 0"
        )
    return list(chosen)


def seeded_model_name(name: str, seed: int | None) -> str:
    """The folder name of one seed's model: ``{name}_seed{seed}`` (``name`` without seeds)."""
    return name if seed is None else f"{name}_seed{seed}"


def kind_runtime(config: dict[str, Any], dataset: str, kind: str) -> dict[str, Any]:
    """The runtime keys (device, Dask scheduler) of ``kind`` on ``dataset``, read when a job runs."""
    return runtime_settings(config, f"models/{kind}") | runtime_settings(
        config, f"datasets/{dataset}/models/{kind}"
    )


def kind_backbones(config: dict[str, Any], dataset: str, kind: str) -> list[str]:
    """Backbones a feature-reading kind is built on for ``dataset``."""
    from bergforge.features.registry import backbones_for

    own = dataset_kinds(config, dataset).get(kind, {})
    shared = (config.get("models") or {}).get(kind) or {}
    chosen = own.get("backbones", shared.get("backbones"))
    return list(chosen) if chosen is not None else backbones_for(config, dataset)


def model_entries(config: dict[str, Any]) -> list[ModelEntry]:
    """Every model the config asks for, dataset by dataset in config order."""
    entries = []
    for dataset in config["datasets"]:
        for name in dataset_kinds(config, dataset):
            kind = get_kind(name, config)
            seeds = kind_seeds(config, dataset, name)
            if seeds is not None and not getattr(kind, "seeded", False):
                raise ConfigError(
                    f"config: datasets.{dataset}.models.{name}: `seeds` needs a seeded kind (one "
                    f"whose settings take `seed`, e.g. mlp); {name!r} is not"
                )
            backbones = (
                kind_backbones(config, dataset, name) if kind.inputs == "features" else [None]
            )
            for backbone in backbones:
                base = kind.model_name(backbone)
                for seed in seeds or [None]:
                    entries.append(
                        ModelEntry(dataset, name, backbone, seeded_model_name(base, seed), seed)
                    )
    return entries


def encoding_entries(config: dict[str, Any]) -> list[ModelEntry]:
    """The encoding models of :func:`model_entries` (evaluated per subject, exported, summarised)."""
    return [e for e in model_entries(config) if kind_task(get_kind(e.kind, config)) == "encode"]


def decoding_entries(config: dict[str, Any]) -> list[ModelEntry]:
    """The decoding models of :func:`model_entries` (kinds with ``task = "decode"``: evaluated by
    retrieval, rule ``evaluate_decoder``)."""
    return [e for e in model_entries(config) if kind_task(get_kind(e.kind, config)) == "decode"]


def kind_of_model(config: dict[str, Any], dataset: str, model: str) -> ModelEntry:
    """The entry of ``model`` (a folder name) of ``dataset``."""
    for entry in model_entries(config):
        if entry.dataset == dataset and entry.model == model:
            return entry
    raise ConfigError(f"no model {model!r} is configured for dataset {dataset!r}")


def check_models(config: dict[str, Any]) -> None:
    """Every kind exists, its backbones are configured, and no two models share a folder."""
    known = set(config.get("backbones") or {})
    seen: dict[tuple[str, str], str] = {}
    for name in config.get("models") or {}:
        config_kind(config, name, f"config: models.{name}")
    for dataset in config["datasets"]:
        fmt = dataset_format(config, dataset)
        for name, own in dataset_kinds(config, dataset).items():
            kind = config_kind(config, name, f"config: datasets.{dataset}.models.{name}")
            if kind.inputs == "images" and fmt.images != "nsd_hdf5":
                raise ConfigError(
                    f"config: datasets.{dataset}.models.{name}: kind {name!r} reads NSD images; "
                    f"expected an fMRI dataset (format nsd_bold or nsd_mosaic)"
                )
            check_layout(config, dataset, name, kind)
            modalities = getattr(kind, "modalities", None)
            if modalities is not None and fmt.modality not in modalities:
                raise ConfigError(
                    f"config: datasets.{dataset}.models.{name}: kind {name!r} models "
                    f"{' or '.join(modalities)} data; dataset {dataset!r} is {fmt.modality}"
                )
            for backbone in own.get("backbones", []):
                if backbone not in known:
                    raise ConfigError(
                        f"config: datasets.{dataset}.models.{name}.backbones names {backbone!r}, "
                        f"which is not under `backbones`; expected one of {sorted(known)}"
                    )
    for entry in model_entries(config):
        check_subject_count(config, entry)
        key = (entry.dataset, entry.model)
        if key in seen and seen[key] != entry.kind:
            raise ConfigError(
                f"config: kinds {seen[key]!r} and {entry.kind!r} would both write "
                f"results/models/{entry.dataset}/{entry.model}; rename a backbone"
            )
        seen[key] = entry.kind


def check_layout(config: dict[str, Any], dataset: str, name: str, kind: ModelKind) -> None:
    """A decoding kind needs a trial-indexed dataset and an encoding kind an image-indexed one
    (one clear error otherwise)."""
    fmt = dataset_format(config, dataset)
    layout = dataset_layout(config, dataset)
    where = f"config: datasets.{dataset}.models.{name}"
    if kind_task(kind) == "decode" and layout != "trials":
        raise ConfigError(
            f"{where}: kind {name!r} decodes trial-indexed prepared stores; format {fmt.name} "
            f"writes image-indexed ones; expected a decoding dataset (format "
            f"{' or '.join(trial_formats())}, or {' / '.join(variant_formats())} with "
            "`preprocess: {variant: neuralbench}`)"
        )
    if kind_task(kind) != "decode" and layout == "trials":
        raise ConfigError(
            f"{where}: kind {name!r} is an encoding kind (it reads image-indexed prepared "
            f"stores); format {fmt.name}{_variant_words(config, dataset)} writes trial-indexed "
            "ones, for decoding; expected a "
            f"decoding kind (task 'decode', e.g. {', '.join(default_kinds(config, dataset))})"
        )


def _variant_words(config: dict[str, Any], dataset: str) -> str:
    variant = dataset_variant(config, dataset)
    return f" with preprocess variant {variant!r}" if variant else ""


def config_kind(config: dict[str, Any], name: str, where: str) -> ModelKind:
    """The kind a config entry names; an unknown (or broken) kind is one error naming ``where``."""
    try:
        return get_kind(name, config)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def check_subject_count(config: dict[str, Any], entry: ModelEntry) -> None:
    """A kind's ``min_subjects`` (a ``shared`` model over one subject) and its held-out
    ``unseen_subjects`` (each one of the dataset's subjects)."""
    kind = get_kind(entry.kind, config)
    subjects = [int(s) for s in config["datasets"][entry.dataset]["subjects"]]
    needed = int(getattr(kind, "min_subjects", 1))
    where = f"config: datasets.{entry.dataset}.models.{entry.kind}"
    if len(subjects) < needed:
        raise ConfigError(
            f"{where}: kind {entry.kind!r} fits one model over at least {needed} subjects; the "
            f"dataset has subjects {subjects} (add subjects, or use the mlp kind per subject)"
        )
    if getattr(kind, "unseen_subjects", False):
        unknown = [s for s in unseen_subjects(config, entry) if s not in subjects]
        if unknown:
            raise ConfigError(
                f"{where}.unseen_subjects: held-out subject(s) {unknown} are not in the data; "
                f"expected some of the dataset's subjects {subjects}"
            )


def unseen_subjects(config: dict[str, Any], entry: ModelEntry) -> list[int]:
    """The held-out subjects of a model whose kind predicts unseen subjects (setting
    ``unseen_subjects``, a selection key; default every subject of the dataset; [] for others)."""
    kind = get_kind(entry.kind, config)
    if not getattr(kind, "unseen_subjects", False):
        return []
    own = dataset_kinds(config, entry.dataset).get(entry.kind, {})
    shared = (config.get("models") or {}).get(entry.kind) or {}
    chosen = own.get("unseen_subjects", shared.get("unseen_subjects"))
    subjects = config["datasets"][entry.dataset]["subjects"]
    return [int(s) for s in (subjects if chosen is None else chosen)]


def kinds_in_use(config: dict[str, Any]) -> list[ModelKind]:
    """The kinds some dataset builds, each once, in order of first use."""
    names = dict.fromkeys(e.kind for e in model_entries(config))
    return [get_kind(n, config) for n in names]


#: Resources of a fit job when a kind declares none.
DEFAULT_FIT_RESOURCES = {"threads": 2, "mem_mb": 4000, "runtime": 240}


def fit_resources(kind: ModelKind) -> dict[str, int]:
    """Threads, memory (MB) and runtime (min) of one fit job of ``kind`` at the real size."""
    return DEFAULT_FIT_RESOURCES | dict(getattr(kind, "resources", None) or {})


def model_dir_pattern(kind: ModelKind) -> str:
    """The model folder pattern of a kind: per subject and split, or per dataset."""
    return paths.SUBJECT_MODEL_DIR if kind.scope == "subject" else paths.DATASET_MODEL_DIR


def fit_outputs(kind: ModelKind) -> list[str]:
    """Output patterns of the fit rule of ``kind``: the marker file first, the folder's
    ``checksums.json`` (written by the fit job after the kind's files) last."""
    names = [*kind.fit_outputs, MODEL_MANIFEST]
    return [f"{model_dir_pattern(kind)}/{name}" for name in names]


def entries_of(config: dict[str, Any], kind: str) -> list[ModelEntry]:
    return [e for e in model_entries(config) if e.kind == kind]


def fit_constraints(config: dict[str, Any], kind: ModelKind) -> dict[str, str]:
    """Wildcard constraints of the fit rule of ``kind``."""
    from bergforge.workflow.targets import alternation

    entries = entries_of(config, kind.name)
    constraints = {
        "dataset": alternation(sorted({e.dataset for e in entries})),
        "model": alternation(sorted({e.model for e in entries})),
    }
    if kind.scope == "subject":
        splits = {
            s for e in entries for s in kind.splits(dataset_format(config, e.dataset).modality)
        }
        constraints.update(subject=r"\d\d", split=alternation(sorted(splits)))
    return constraints


def _entry(config: dict[str, Any], wildcards: Any) -> ModelEntry:
    return kind_of_model(config, wildcards.dataset, wildcards.model)


def _stage_inputs(entry: ModelEntry, kind: ModelKind, prepared: Any) -> dict[str, Any]:
    """The stage contracts a kind reads: prepared store(s), stimuli, then features or images."""
    out: dict[str, Any] = {
        "prepared": prepared,
        "stimuli": paths.fill(paths.STIMULI, dataset=entry.dataset),
    }
    if kind.inputs == "features":
        out["features"] = paths.fill(paths.FEATURES, dataset=entry.dataset, backbone=entry.backbone)
    else:
        out["images"] = f"{paths.fill(paths.RAW, dataset=entry.dataset)}/nsd_stimuli.hdf5"
    return out


def fit_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Input function of every fit rule: prepared store(s), stimuli, then features or images."""

    def inputs(wildcards: Any) -> dict[str, Any]:
        entry = _entry(config, wildcards)
        kind = get_kind(entry.kind, config)
        ds = config["datasets"][entry.dataset]
        subjects = [int(wildcards.subject)] if kind.scope == "subject" else ds["subjects"]
        prepared = [
            paths.fill(paths.PREPARED_STORE, dataset=entry.dataset, subject=s) for s in subjects
        ]
        return _stage_inputs(entry, kind, prepared)

    return inputs


def fit_params(config: dict[str, Any], kind: ModelKind) -> dict[str, Callable[[Any], Any]]:
    """Params of the fit rule of ``kind``: its result-changing settings on the dataset, and for a
    dataset-scope kind the subjects it is fitted on."""

    ignored = tuple(getattr(kind, "fit_ignores", ()))  # settings only other rules read

    def settings(wildcards: Any) -> dict[str, Any]:
        found = entry_settings(config, _entry(config, wildcards))
        return {k: v for k, v in found.items() if k not in ignored}

    def subjects(wildcards: Any) -> list[int]:
        return list(config["datasets"][wildcards.dataset]["subjects"])

    return {"settings": settings} | ({"subjects": subjects} if kind.scope == "dataset" else {})


def model_files(config: dict[str, Any], entry: ModelEntry, subject: int) -> list[str]:
    """The marker file of every model folder one subject's evaluation reads."""
    kind = get_kind(entry.kind, config)
    marker = kind.fit_outputs[0]
    if kind.scope == "dataset":
        return [
            f"{paths.fill(paths.DATASET_MODEL_DIR, dataset=entry.dataset, model=entry.model)}/{marker}"
        ]
    modality = dataset_format(config, entry.dataset).modality
    folder = dict(dataset=entry.dataset, model=entry.model, subject=subject)
    return [
        f"{paths.fill(paths.SUBJECT_MODEL_DIR, split=split, **folder)}/{marker}"
        for split in kind.splits(modality)
    ]


def evaluation_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Input function of the evaluation: the subject's models, prepared store, stimuli and the
    features (feature kinds) or images (image kinds) of the test images."""

    def inputs(wildcards: Any) -> dict[str, Any]:
        entry = _entry(config, wildcards)
        kind = get_kind(entry.kind, config)
        prepared = paths.fill(
            paths.PREPARED_STORE, dataset=entry.dataset, subject=wildcards.subject
        )
        return {
            "models": model_files(config, entry, int(wildcards.subject)),
            **_stage_inputs(entry, kind, prepared),
        }

    return inputs


def evaluation_gpu(config: dict[str, Any]) -> Callable[[Any], int]:
    """Resource function of the evaluation: one GPU when the model's kind reads images and runs
    on ``cuda`` (kinds reading features predict on the CPU: ``predict_features`` takes no device,
    so an ``mlp`` trained on a GPU is evaluated without one)."""

    def gpu(wildcards: Any) -> int:
        entry = _entry(config, wildcards)
        if get_kind(entry.kind, config).inputs != "images":
            return 0
        return int(kind_runtime(config, entry.dataset, entry.kind).get("device") == "cuda")

    return gpu


def evaluation_constraints(config: dict[str, Any]) -> dict[str, str]:
    from bergforge.workflow.targets import alternation

    entries = encoding_entries(config)
    return {
        "dataset": alternation(sorted({e.dataset for e in entries})),
        "model": alternation(sorted({e.model for e in entries})),
        "subject": r"\d\d",
    }


def fit_targets(config: dict[str, Any]) -> list[str]:
    """The marker file of every model folder the config asks for."""
    targets = []
    for entry in model_entries(config):
        for s in config["datasets"][entry.dataset]["subjects"]:
            for f in model_files(config, entry, s):
                if f not in targets:
                    targets.append(f)
    return targets


def exported_model_files(config: dict[str, Any]) -> list[str]:
    """Marker files of the model folders an export reads: linear models of MEG/EEG datasets (every
    split: the evaluation in the metadata uses each), cnn8 models, and every model of a kind
    exported in bergforge's own layout."""
    files = []
    for entry in encoding_entries(config):
        if entry.kind == "linear" and dataset_format(config, entry.dataset).modality == "fmri":
            continue  # linear fMRI models are evaluated, not exported
        for s in config["datasets"][entry.dataset]["subjects"]:
            files += [f for f in model_files(config, entry, s) if f not in files]
    return files


def evaluation_targets(config: dict[str, Any]) -> list[str]:
    """evaluation.npz of every subject of every configured encoding model."""
    return [
        paths.fill(paths.EVALUATION, dataset=e.dataset, model=e.model, subject=s)
        for e in encoding_entries(config)
        for s in config["datasets"][e.dataset]["subjects"]
    ]


def feature_datasets(config: dict[str, Any]) -> list[str]:
    """Datasets with at least one feature-reading model."""
    return list(dict.fromkeys(e.dataset for e in model_entries(config) if e.backbone))


def feature_backbones(config: dict[str, Any], dataset: str) -> list[str]:
    """Backbones whose features ``dataset``'s models read."""
    return list(
        dict.fromkeys(
            e.backbone for e in model_entries(config) if e.dataset == dataset and e.backbone
        )
    )


def uses_nsd_images(config: dict[str, Any], dataset: str) -> bool:
    """True when the dataset's images are rows of nsd_stimuli.hdf5 (fMRI formats)."""
    return get_format(config["datasets"][dataset]["format"]).images == "nsd_hdf5"


# ------------------------------------------------ unseen subjects (leave-one-subject-out evaluation)


def unseen_entries(config: dict[str, Any]) -> list[ModelEntry]:
    """Models whose kind predicts subjects it never saw (``unseen_subjects = True``)."""
    return [
        e
        for e in encoding_entries(config)
        if getattr(get_kind(e.kind, config), "unseen_subjects", False)
    ]


def unseen_targets(config: dict[str, Any]) -> list[str]:
    """``unseen.npz`` of every held-out subject of every such model."""
    return [
        paths.fill(paths.UNSEEN_EVALUATION, dataset=e.dataset, model=e.model, subject=s)
        for e in unseen_entries(config)
        for s in unseen_subjects(config, e)
    ]


def own_linear_evaluation(config: dict[str, Any], entry: ModelEntry, subject: int) -> str | None:
    """The evaluation of the subject's own ``linear`` model on the same backbone, when the
    dataset builds one (the comparison beside the unseen-subject numbers)."""
    for other in model_entries(config):
        if (other.dataset, other.kind, other.backbone) == (entry.dataset, "linear", entry.backbone):
            return paths.fill(
                paths.EVALUATION, dataset=entry.dataset, model=other.model, subject=subject
            )
    return None


def unseen_inputs(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Input function of ``evaluate_unseen``: every subject's prepared store (the held-out one's
    for its test images and few-shot images, the others' for training), stimuli, features, and
    the subject's own linear evaluation where there is one."""

    def inputs(wildcards: Any) -> dict[str, Any]:
        entry = _entry(config, wildcards)
        kind = get_kind(entry.kind, config)
        subjects = config["datasets"][entry.dataset]["subjects"]
        prepared = [
            paths.fill(paths.PREPARED_STORE, dataset=entry.dataset, subject=s) for s in subjects
        ]
        out = _stage_inputs(entry, kind, prepared)
        own = own_linear_evaluation(config, entry, int(wildcards.subject))
        return out | ({"own": own} if own else {})

    return inputs


def unseen_params(config: dict[str, Any]) -> dict[str, Callable[[Any], Any]]:
    """Params of ``evaluate_unseen``: the kind's every result-changing setting and the subjects."""

    def settings(wildcards: Any) -> dict[str, Any]:
        entry = _entry(config, wildcards)
        return entry_settings(config, entry)

    def subjects(wildcards: Any) -> list[int]:
        return list(config["datasets"][wildcards.dataset]["subjects"])

    return {"settings": settings, "subjects": subjects}


def unseen_constraints(config: dict[str, Any]) -> dict[str, str]:
    from bergforge.workflow.targets import alternation

    entries = unseen_entries(config)
    return {
        "dataset": alternation(sorted({e.dataset for e in entries})),
        "model": alternation(sorted({e.model for e in entries})),
        "subject": r"\d\d",
    }


def unseen_gpu(config: dict[str, Any]) -> Callable[[Any], int]:
    """One GPU when the kind trains on ``cuda`` (the held-out job trains a trunk)."""

    def gpu(wildcards: Any) -> int:
        entry = _entry(config, wildcards)
        return int(kind_runtime(config, entry.dataset, entry.kind).get("device") == "cuda")

    return gpu
