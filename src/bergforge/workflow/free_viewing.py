"""The free-viewing stage's config: its settings per dataset, paths, targets and rule inputs.

An ``avs_fixations`` dataset (simulated, or a local copy of AVS) goes through
workflow/rules/free_viewing.smk: fixation-onset epochs per subject (the trial-indexed prepared
store), fixation features per backbone × route × subject, one model per backbone × route ×
stream × kind × training set, leave-one-subject-out scores of the ``evaluate`` subjects and the
challenge's prediction files of the ``heldout`` subjects. A model is named by the subjects it is
trained on (``train-01-02-03-04``): the subjects that are neither held out nor the scored one, so
a fold whose training set equals the challenge's shares its model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bergforge import paths
from bergforge.datasets.formats import FIXATIONS, datasets_of
from bergforge.errors import ConfigError
from bergforge.workflow.models import checked_seeds, seeded_model_name

STUDY = "resources/raw/{dataset}/study.json"

ROUTES = ("crops", "gaze")
STREAMS = ("dual", "foveal")
KINDS = ("ridge_cv", "shared")
DEFAULT_TIMES = tuple(round(t, 3) for t in np.arange(0.0, 0.3001, 0.01))
DEFAULT_FILES = {
    "table": "sub-{subject}/sub-{subject}_fixations.tsv",
    "epochs": "sub-{subject}/meg/sub-{subject}_task-avs-epo.fif",
    "stimuli": "nsd_stimuli.hdf5",
}
#: the simulator's files (bergforge.simulate.avs.write_study)
SIMULATED_FILES = {
    "table": "sub-{subject}/sub-{subject}_fixations.tsv",
    "recording": "sub-{subject}/meg/sub-{subject}_task-avs_meg.fif",
    "stimuli": "nsd_stimuli.hdf5",
}


@dataclass(frozen=True)
class FreeViewing:
    """The ``free_viewing`` section of one dataset, with defaults, checked."""

    dataset: str
    source: str
    subjects: tuple[int, ...]
    heldout: tuple[int, ...]
    evaluate: tuple[int, ...]
    backbones: dict[str, str]
    routes: tuple[str, ...] = ROUTES
    streams: tuple[str, ...] = STREAMS
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)
    crop_deg: float = 2.0
    last_fixation: str = "mask"
    epochs: dict[str, Any] = field(default_factory=dict)
    times: tuple[float, ...] = DEFAULT_TIMES
    latency: float = 0.11
    table: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)
    epoch_ids: dict[str, str] = field(default_factory=dict)
    path: str | None = None

    def training_subjects(self, scored: int | None) -> list[int]:
        """The subjects a model is trained on: neither held out nor ``scored``."""
        return [s for s in self.subjects if s not in self.heldout and s != scored]

    def fold_subjects(self) -> list[int]:
        """Every subject a model predicts: the scored ones and the held-out ones."""
        return sorted(set(self.evaluate) | set(self.heldout))

    def with_meg(self) -> list[int]:
        """Subjects whose MEG is read: training subjects and scored subjects."""
        return sorted(set(self.training_subjects(None)) | set(self.evaluate))

    def raw_file(self, key: str, subject: int | None = None) -> str:
        """A raw file's path: the simulator's layout or the local copy's ``files``."""
        if self.source == "simulated":
            name = SIMULATED_FILES[key]
            root = f"resources/raw/{self.dataset}"
        else:
            name = {**DEFAULT_FILES, **self.files}[key]
            root = str(self.path).rstrip("/")
        label = "" if subject is None else f"{int(subject):02d}"
        return f"{root}/{name.replace('{subject}', label)}"


def train_label(subjects: list[int]) -> str:
    """``01-02-03-04``: the training set in a model folder's name."""
    return "-".join(f"{int(s):02d}" for s in sorted(subjects))


def free_viewing_datasets(config: dict[str, Any]) -> list[str]:
    """The config's free-viewing datasets (layout ``fixations``)."""
    return datasets_of(config, layout=FIXATIONS)


def settings(config: dict[str, Any], dataset: str) -> FreeViewing:
    """The dataset's free-viewing settings (defaults filled in, every cross-field rule checked)."""
    ds = config["datasets"][dataset]
    section = dict(ds.get("free_viewing") or {})
    where = f"config: datasets.{dataset}.free_viewing"
    subjects = tuple(int(s) for s in ds["subjects"])
    simulation = ds.get("simulation") or {}
    default_heldout = [int(simulation.get("heldout_subject", 60))] if simulation else []
    heldout = tuple(int(s) for s in section.get("heldout", default_heldout))
    default_evaluate = list(heldout) if ds["source"] == "simulated" else []
    evaluate = tuple(int(s) for s in section.get("evaluate", default_evaluate))
    for name, values in (("heldout", heldout), ("evaluate", evaluate)):
        unknown = [s for s in values if s not in subjects]
        if unknown:
            raise ConfigError(
                f"{where}.{name} has subjects {unknown} that are not in datasets.{dataset}.subjects "
                f"{list(subjects)}"
            )
    backbones = dict(section.get("backbones") or {})
    if not backbones:
        raise ConfigError(
            f"{where}.backbones: expected at least one backbone → layer (e.g. "
            "alexnet_untrained: features.12)"
        )
    known = set(config.get("backbones") or {})
    missing = sorted(set(backbones) - known)
    if missing:
        raise ConfigError(
            f"{where}.backbones names {missing}, not under `backbones`; expected some of "
            f"{sorted(known)}"
        )
    kinds = {k: dict(v or {}) for k, v in (section.get("kinds") or {k: {} for k in KINDS}).items()}
    out = FreeViewing(
        dataset=dataset,
        source=str(ds["source"]),
        subjects=subjects,
        heldout=heldout,
        evaluate=evaluate,
        backbones=backbones,
        routes=tuple(section.get("routes", ROUTES)),
        streams=tuple(section.get("streams", STREAMS)),
        kinds=kinds,
        crop_deg=float(section.get("crop_deg", 2.0)),
        last_fixation=str(section.get("last_fixation", "mask")),
        epochs=dict(section.get("epochs") or {}),
        times=tuple(float(t) for t in section.get("times", DEFAULT_TIMES)),
        latency=float(section.get("latency", 0.11)),
        table=section.get("table"),
        files=dict(section.get("files") or {}),
        epoch_ids=dict(section.get("epoch_ids") or {}),
        path=ds.get("path"),
    )
    _check(out, where, simulation)
    return out


def _check(fv: FreeViewing, where: str, simulation: dict[str, Any]) -> None:
    tmin, tmax = float(fv.epochs.get("tmin", -0.1)), float(fv.epochs.get("tmax", 0.5))
    outside = [t for t in (*fv.times, fv.latency) if not tmin <= t <= tmax]
    if outside:
        raise ConfigError(
            f"{where}: times/latency {outside} lie outside the epochs ({tmin}…{tmax} s)"
        )
    for scored in fv.fold_subjects():
        if len(fv.training_subjects(scored)) < 2:
            raise ConfigError(
                f"{where}: predicting subject {scored} leaves "
                f"{fv.training_subjects(scored)} to train on; expected at least 2 training "
                "subjects (the subjects that are neither held out nor scored)"
            )
    from bergforge.models.fixations.settings import FixationNetConfig, RidgeSettings

    for kind, values in fv.kinds.items():
        values = {k: v for k, v in values.items() if k not in ("device", "seeds")}
        try:
            _check_seeds(fv.kinds[kind], kind)
            if kind == "ridge_cv":
                RidgeSettings.from_settings(values)
            else:
                FixationNetConfig.of(values, "cpu")
        except ConfigError as err:
            raise ConfigError(f"{where}.kinds.{kind}: {err}") from None
    if fv.source == "local" and fv.table is None:
        raise ConfigError(
            f"{where}.table: a local copy needs its fixation table's column mapping and units "
            "(columns, time_unit, position_unit, scene_size_px, screen)"
        )
    if fv.source == "simulated":
        sim_subjects = {int(s) for s in simulation.get("train_subjects", (1, 2, 3, 4))}
        sim_subjects.add(int(simulation.get("heldout_subject", 60)))
        if set(fv.subjects) != sim_subjects:
            raise ConfigError(
                f"{where}: the simulated study has subjects {sorted(sim_subjects)} "
                f"(simulation.train_subjects + heldout_subject); datasets.{fv.dataset}.subjects "
                f"is {list(fv.subjects)}"
            )


def _check_seeds(values: dict[str, Any], kind: str) -> None:
    """A kind's ``seeds``: distinct integers ≥ 0, for the seeded ``shared`` kind, not beside
    ``seed``."""
    if "seeds" not in values:
        return
    seeds = values["seeds"]
    if kind != "shared":
        raise ConfigError("`seeds` is a setting of the shared kind only (ridge_cv has no seed)")
    if "seed" in values:
        raise ConfigError("`seed` and `seeds` both given; expected one of them")
    checked_seeds(seeds, "seeds")


def check_free_viewing(config: dict[str, Any]) -> None:
    """Check every free-viewing dataset's settings (at parse time: one clear error)."""
    for dataset in free_viewing_datasets(config):
        settings(config, dataset)


@dataclass(frozen=True)
class FixationModel:
    """One model of a kind: ``name`` is the ``{kind}`` wildcard, the kind itself or, for each of
    a kind's ``seeds``, ``{kind}_seed{seed}`` (the fit's ``seed`` setting)."""

    name: str
    kind: str
    seed: int | None = None


def fixation_models(fv: FreeViewing) -> list[FixationModel]:
    """The models of the dataset's kinds: one per kind, or one per seed of a kind's ``seeds``."""
    out = []
    for kind, values in fv.kinds.items():
        seeds = values.get("seeds")
        if seeds is None:
            out.append(FixationModel(kind, kind))
        else:
            out += [FixationModel(seeded_model_name(kind, s), kind, int(s)) for s in seeds]
    return out


def fixation_model(fv: FreeViewing, name: str) -> FixationModel:
    """The model whose ``{kind}`` wildcard is ``name``."""
    for model in fixation_models(fv):
        if model.name == name:
            return model
    raise ConfigError(
        f"free-viewing model {name!r} is not configured on {fv.dataset}; expected one of "
        f"{[m.name for m in fixation_models(fv)]} (free_viewing.kinds and their seeds)"
    )


def kind_of(name: str) -> str:
    """The kind of a ``{kind}`` wildcard value (``shared_seed2`` → ``shared``)."""
    return re.sub(r"_seed\d+$", "", name)


def models_of(fv: FreeViewing) -> list[dict[str, str]]:
    """Every (backbone, route, stream, model) of the dataset, as wildcard values."""
    return [
        {"backbone": b, "route": r, "stream": s, "kind": m.name}
        for b in fv.backbones
        for r in fv.routes
        for s in fv.streams
        for m in fixation_models(fv)
    ]


def free_viewing_targets(config: dict[str, Any]) -> list[str]:
    """Every evaluation and challenge output of every free-viewing dataset."""
    targets = []
    for dataset in free_viewing_datasets(config):
        fv = settings(config, dataset)
        for model in models_of(fv):
            targets += [
                paths.fill(paths.FIXATION_EVALUATION, dataset=dataset, subject=s, **model)
                for s in fv.evaluate
            ]
            targets += [
                paths.fill(paths.CHALLENGE_DIR, dataset=dataset, subject=s, **model)
                for s in fv.heldout
            ]
    return targets


def _fv(config: dict[str, Any], wildcards: Any) -> FreeViewing:
    return settings(config, wildcards.dataset)


def split_of(fv: FreeViewing, subject: int) -> str:
    """``test`` for a held-out subject (no model trains on its MEG), ``train`` otherwise: a
    scored subject that is not held out is trained on in every fold but its own."""
    return "test" if subject in fv.heldout else "train"


def epochs_inputs(config: dict[str, Any]):
    """Input function of rule ``fixation_epochs``: the simulated study (its files are read from
    its folder), or the local copy's table and ``-epo.fif``."""

    def inputs(wildcards: Any) -> dict[str, str]:
        fv = _fv(config, wildcards)
        if fv.source == "simulated":
            return {"study": STUDY.format(dataset=fv.dataset)}
        s = int(wildcards.subject)
        return {"table": fv.raw_file("table", s), "epochs": fv.raw_file("epochs", s)}

    return inputs


def epochs_params(config: dict[str, Any]):
    """Params function of rule ``fixation_epochs`` (everything that changes the store)."""

    def params(wildcards: Any) -> dict[str, Any]:
        fv = _fv(config, wildcards)
        s = int(wildcards.subject)
        out: dict[str, Any] = {
            "dataset": fv.dataset,
            "subject": s,
            "table_file": fv.raw_file("table", s),
            "epochs": fv.epochs,
            "split": split_of(fv, s),
        }
        if fv.source == "simulated":
            out["recording"] = fv.raw_file("recording", s)
        else:
            out |= {"epochs_file": fv.raw_file("epochs", s), "epoch_ids": fv.epoch_ids or None}
            out["table"] = fv.table
        return out

    return params


def feature_inputs(config: dict[str, Any]):
    """Input function of rule ``fixation_features``: the table and the scenes."""

    def inputs(wildcards: Any) -> dict[str, str]:
        fv = _fv(config, wildcards)
        if fv.source == "simulated":
            return {"study": STUDY.format(dataset=fv.dataset)}
        s = int(wildcards.subject)
        return {"table": fv.raw_file("table", s), "stimuli": fv.raw_file("stimuli")}

    return inputs


def feature_params(config: dict[str, Any]):
    """Params function of rule ``fixation_features``: the backbone, layer and route settings (the
    crop size only for the crop route, so changing it reruns no gaze features)."""
    from bergforge.config import strip_runtime

    def params(wildcards: Any) -> dict[str, Any]:
        fv = _fv(config, wildcards)
        s = int(wildcards.subject)
        crop = {"last_fixation": fv.last_fixation}
        if wildcards.route == "crops":
            crop["crop_deg"] = fv.crop_deg
        overrides = dict((config.get("backbones") or {}).get(wildcards.backbone) or {})
        overrides.pop("datasets", None)
        return {
            "table_file": fv.raw_file("table", s),
            "stimuli": fv.raw_file("stimuli"),
            "table": fv.table,
            "backbone": wildcards.backbone,
            "overrides": strip_runtime(overrides, f"backbones/{wildcards.backbone}"),
            "layer": fv.backbones[wildcards.backbone],
            "route": wildcards.route,
            "crop": crop,
        }

    return params


def _train(wildcards: Any) -> list[int]:
    return [int(s) for s in str(wildcards.train).split("-")]


def fit_inputs(config: dict[str, Any]):
    """Input function of rule ``fit_fixation_model``: the training subjects' features and stores."""

    def inputs(wildcards: Any) -> dict[str, list[str]]:
        w = dict(wildcards.items())
        subjects = _train(wildcards)
        return {
            "features": [
                paths.fill(
                    paths.FIXATION_FEATURES,
                    dataset=w["dataset"],
                    backbone=w["backbone"],
                    route=w["route"],
                    subject=s,
                )
                for s in subjects
            ],
            "prepared": [
                paths.fill(paths.PREPARED_STORE, dataset=w["dataset"], subject=s) for s in subjects
            ],
        }

    return inputs


def fit_params(config: dict[str, Any]):
    """Params function of rule ``fit_fixation_model``: the kind's settings (runtime keys out),
    the stream and the predicted times."""
    from bergforge.config import strip_runtime

    def params(wildcards: Any) -> dict[str, Any]:
        fv = _fv(config, wildcards)
        model = fixation_model(fv, wildcards.kind)
        settings_ = strip_runtime(
            dict(fv.kinds[model.kind]), f"datasets/{fv.dataset}/free_viewing/kinds/{model.kind}"
        )
        settings_.pop("seeds", None)
        if model.seed is not None:
            settings_["seed"] = model.seed
        return {
            "kind": model.kind,
            "settings": settings_,
            "stream": wildcards.stream,
            "times": list(fv.times),
            "subjects": _train(wildcards),
        }

    return params


def kind_device(config: dict[str, Any], dataset: str, kind: str) -> str:
    """The runtime device of a free-viewing kind or of one seed's model
    (``free_viewing.kinds.<kind>.device``)."""
    section = (config["datasets"][dataset].get("free_viewing") or {}).get("kinds") or {}
    return str((section.get(kind_of(kind)) or {}).get("device", "auto"))


def model_of(config: dict[str, Any], wildcards: Any) -> str:
    """The model folder that predicts the rule's ``{subject}``: trained on the others."""
    fv = _fv(config, wildcards)
    w = dict(wildcards.items())
    return paths.fill(
        paths.FIXATION_MODEL_DIR,
        dataset=w["dataset"],
        backbone=w["backbone"],
        route=w["route"],
        stream=w["stream"],
        kind=w["kind"],
        train=train_label(fv.training_subjects(int(w["subject"]))),
    )


def _predicting(config: dict[str, Any], wildcards: Any) -> dict[str, str]:
    """The model that predicts the rule's ``{subject}`` and that subject's features."""
    w = dict(wildcards.items())
    features = paths.fill(
        paths.FIXATION_FEATURES,
        dataset=w["dataset"],
        backbone=w["backbone"],
        route=w["route"],
        subject=w["subject"],
    )
    return {"model": model_of(config, wildcards), "features": features}


def evaluate_inputs(config: dict[str, Any]):
    """Input function of rule ``evaluate_fixations``: the model, the features and the store."""

    def inputs(wildcards: Any) -> dict[str, str]:
        store = paths.fill(
            paths.PREPARED_STORE, dataset=wildcards.dataset, subject=wildcards.subject
        )
        return _predicting(config, wildcards) | {"prepared": store}

    return inputs


def evaluate_params(config: dict[str, Any]):
    """Params function of rule ``evaluate_fixations``: the latency and the simulated truth."""

    def params(wildcards: Any) -> dict[str, Any]:
        fv = _fv(config, wildcards)
        truth = None
        if fv.source == "simulated":
            truth = f"resources/raw/{fv.dataset}/ground_truth/sub-{int(wildcards.subject):02d}_truth.json"
        return {"subject": int(wildcards.subject), "latency": fv.latency, "truth": truth}

    return params


def challenge_inputs(config: dict[str, Any]):
    """Input function of rule ``challenge_outputs``: the model, the features and the table."""

    def inputs(wildcards: Any) -> dict[str, str]:
        fv = _fv(config, wildcards)
        out = _predicting(config, wildcards)
        if fv.source == "simulated":
            out["study"] = STUDY.format(dataset=fv.dataset)
        else:
            out["table"] = fv.raw_file("table", int(wildcards.subject))
        return out

    return inputs


def challenge_params(config: dict[str, Any]):
    """Params function of rule ``challenge_outputs``."""

    def params(wildcards: Any) -> dict[str, Any]:
        fv = _fv(config, wildcards)
        s = int(wildcards.subject)
        return {
            "subject": s,
            "table_file": fv.raw_file("table", s),
            "table": fv.table,
            "latency": fv.latency,
            "model_info": {"dataset": fv.dataset},
        }

    return params


def free_viewing_constraints(config: dict[str, Any]) -> dict[str, str]:
    """Wildcard constraints of the free-viewing rules."""
    from bergforge.workflow.targets import alternation

    return {
        "dataset": alternation(free_viewing_datasets(config)),
        "route": "|".join(ROUTES),
        "stream": "|".join(STREAMS),
        "kind": rf"({'|'.join(KINDS)})(_seed\d+)?",
        "train": r"\d\d(-\d\d)*",
        "subject": r"\d\d",
    }


def fit_gpu(config: dict[str, Any]):
    """``resources: gpu`` of rule ``fit_fixation_model``: 1 when the kind's device is ``cuda``."""

    def gpu(wildcards: Any) -> int:
        return 1 if kind_device(config, wildcards.dataset, wildcards.kind) == "cuda" else 0

    return gpu
