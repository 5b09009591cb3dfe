"""Loading models in bergforge's own layout (:mod:`bergforge.export.own_layout`) for ``BERG``.

The kind comes from the registry by the name the JSON records (never from a module the file
names): built-in kinds and entry points are found by name, others are registered by the caller
(``BERG(root, model_kinds={name: module})``). The backbone is rebuilt from the recorded spec as
for BERG models; the kind's predictor (``from_tensors``) maps its features to the targets.
Selections follow the modality's BERG keys where the target coordinates allow them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.api.backbone import FeatureExtractor, build_feature_extractor
from bergforge.api.stimulus import stimulus_batches
from bergforge.errors import ConfigError, InvalidParameterError, ModelLoadError
from bergforge.export.manifest import MANIFEST_NAME, ManifestGuard
from bergforge.export.own_layout import OwnModel, is_own_model
from bergforge.export.selection import check_selection_keys, resolve_eeg, resolve_meg

BATCH_SIZE = 100
#: target dims that BERG's MEG/EEG selections apply to
CHANNEL_TIME = ["channel", "time"]


class OwnModels:
    """Own-layout folders of one tree, verified once and kept while their ``SHA256SUMS`` is
    unchanged (weight bytes are hashed again whenever they are read)."""

    def __init__(self, guard: ManifestGuard):
        self.guard = guard
        self._opened: dict[Path, tuple[tuple, OwnModel]] = {}

    def get(self, folder: Path) -> OwnModel | None:
        """The verified model in ``folder``, or None if the folder is not in the own layout."""
        if not is_own_model(folder):
            return None
        manifest = folder / MANIFEST_NAME
        stat = manifest.stat() if manifest.is_file() else None
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino) if stat else ()
        cached = self._opened.get(folder)
        if cached is None or cached[0] != key or not key:
            if stat is not None:
                self.guard.verify(manifest)  # a release manifest at the root covers this one
            cached = (key, OwnModel.open(folder))
            self._opened[folder] = cached
        return cached[1]


@dataclass
class OwnEncodingModel:
    """A loaded own-layout model: backbone, one predictor per split, the kept target columns."""

    model_id: str
    subject: int
    train_splits: list[str]
    extractor: FeatureExtractor | None  # None: the kind reads the images themselves
    predictors: list[Any]
    n_targets: int
    columns: np.ndarray | None  # flat target columns kept by the selection (None: all)
    out_shape: tuple[int, ...]
    stacked: bool
    metadata: dict

    def generate_response(self, stimulus: np.ndarray, show_progress: bool = False) -> np.ndarray:
        """In-silico responses ``(batch, [n_splits,] *targets)`` float32 to uint8 images."""
        out = []
        for batch in stimulus_batches(stimulus, BATCH_SIZE, self.model_id, show_progress):
            inputs = batch if self.extractor is None else self.extractor(batch)
            preds = [self._predict(p, inputs, len(batch)) for p in self.predictors]
            out.append(np.stack(preds, axis=1) if self.stacked else preds[0])
        return np.concatenate(out).astype(np.float32)

    def _predict(self, predictor: Any, inputs: np.ndarray, n: int) -> np.ndarray:
        y = np.asarray(predictor.predict(inputs)).reshape(n, -1)
        if y.shape[1] != self.n_targets:
            raise ModelLoadError(
                f"{self.model_id}: the kind's predictor returned {y.shape[1]} targets per image; "
                f"the model records {self.n_targets}"
            )
        if self.columns is not None:
            y = y[:, self.columns]
        return y.reshape(n, *self.out_shape)


def load_own_model(
    model: OwnModel,
    subject: int,
    train_splits: object,
    selection: object,
    device: str,
    kinds_config: dict[str, Any] | None,
) -> OwnEncodingModel:
    """Check every argument against the JSON, then read the weights and build the backbone."""
    meta = model.meta
    model_id = str(meta["model_id"])
    splits, stacked = choose_splits(model_id, model.splits, train_splits)
    targets = model.targets(subject)
    columns, out_shape, n_targets = resolve_selection(
        model_id, meta["modality"], targets, selection
    )
    kind = _kind(str(meta["kind"]), kinds_config)
    backbone = meta.get("backbone")
    if kind.inputs == "features" and not (isinstance(backbone, dict) and backbone.get("name")):
        raise ModelLoadError(f"{model_id}: kind {kind.name!r} reads features but no backbone spec")
    predictors = []
    for split in splits:
        tensors, config = model.read_weights(subject, split)
        if kind.scope == "dataset":  # one model for every subject: it predicts the one asked for
            config = {**config, "subject": subject}
        predictors.append(kind.from_tensors(tensors, config))
    extractor = None
    if kind.inputs == "features":
        extractor = build_feature_extractor(backbone["name"], device, backbone)
    return OwnEncodingModel(
        model_id=model_id,
        subject=subject,
        train_splits=splits,
        extractor=extractor,
        predictors=predictors,
        n_targets=n_targets,
        columns=columns,
        out_shape=out_shape,
        stacked=stacked,
        metadata=meta,
    )


def choose_splits(model_id: str, recorded: list[str], train_splits: object) -> tuple[list, bool]:
    """The splits to predict and whether they are stacked on axis 1.

    ``None``: the model's only split, else ``all``, else every split (stacked); a split name: that
    split; ``"single"``: the ``single-k`` splits (stacked, as BERG's MEG models).
    """
    singles = [s for s in recorded if s.startswith("single-")]
    if train_splits is None:
        if len(recorded) == 1 or "all" in recorded:
            return [recorded[0] if len(recorded) == 1 else "all"], False
        return list(recorded), True
    if isinstance(train_splits, str) and train_splits in recorded:
        return [train_splits], False
    if train_splits == "single" and singles:
        return singles, True
    valid = list(recorded) + (["single"] if singles else [])
    raise InvalidParameterError(
        f"train_splits must be None or one of {valid} for {model_id}; got {train_splits!r}"
    )


def resolve_selection(
    model_id: str, modality: str, targets: dict[str, Any], selection: object
) -> tuple[np.ndarray | None, tuple[int, ...], int]:
    """(kept flat columns or None, output shape, number of targets) of a selection."""
    dims, shape = list(targets.get("target_dims", [])), tuple(targets.get("target_shape", []))
    if not shape or len(dims) != len(shape):
        raise ModelLoadError(f"{model_id}: target dims {dims} and shape {list(shape)} disagree")
    n_targets = int(np.prod(shape))
    if modality not in ("meg", "eeg") or dims != CHANNEL_TIME:
        if selection is not None and selection != {}:
            raise InvalidParameterError(
                f"selection is not supported for {model_id} (a {modality.upper()} model with "
                f"targets {dims}); pass selection=None"
            )
        return None, shape, n_targets
    selection = check_selection_keys(modality, selection)
    if not selection:
        return None, shape, n_targets
    coords, n_times = targets.get("coordinates", {}), shape[1]
    try:
        if modality == "meg":
            prefixes, regions = coords["sensor_prefixes"], coords["sensor_regions"]
            if not len(prefixes) == len(regions) == shape[0]:
                raise ModelLoadError(f"{model_id}: sensor coordinates do not match {list(shape)}")
            chosen = resolve_meg(selection, prefixes, regions, n_times)
        else:
            if len(coords["channels"]) != shape[0]:
                raise ModelLoadError(f"{model_id}: channel names do not match {list(shape)}")
            chosen = resolve_eeg(selection, coords["channels"], n_times)
    except KeyError as err:
        raise ModelLoadError(
            f"{model_id}: the target coordinates lack {err}, needed for a selection"
        ) from None
    return chosen.rows(n_times), (len(chosen.channels), len(chosen.times)), n_targets


def _kind(name: str, kinds_config: dict[str, Any] | None):
    from bergforge.models.registry import get_kind

    try:
        return get_kind(name, kinds_config)
    except ConfigError as err:
        raise ModelLoadError(
            f"this model needs model kind {name!r}: {err}. Register it with "
            f"BERG(root, model_kinds={{{name!r}: 'package.module'}})"
        ) from err
