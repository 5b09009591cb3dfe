"""``bergforge.BERG``: load exported (or BERG-published) MEG/EEG encoding models and encode images.

fMRI (the multi-head CNN8) is loaded by :mod:`bergforge.api.fmri`: ``subject`` may be an int, a
list or ``"all"`` and ``encode`` returns ``{"NaturalScenesDataset": {"sub-01": …}}``. Model folders
in bergforge's own layout (a ``bergforge_model.json``) are loaded by :mod:`bergforge.api.own`.

Everything the caller passes is checked before any weight file is opened; each bad value gets one
error of the :mod:`bergforge.errors` family that names it and the valid values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bergforge.api.backbone import FeatureExtractor, build_feature_extractor
from bergforge.api.own import OwnEncodingModel, OwnModels, load_own_model
from bergforge.api.stimulus import stimulus_batches
from bergforge.api.weights import (
    LinearReadout,
    build_readout,
    load_pickled_dict,
    repetition_keys,
)
from bergforge.errors import InvalidParameterError, ModelLoadError, ModelNotFoundError
from bergforge.export import layout
from bergforge.export.manifest import ManifestGuard
from bergforge.export.selection import check_selection_keys, resolve_eeg, resolve_meg
from bergforge.models.registry import kind_for_layout

if TYPE_CHECKING:
    from bergforge.api.fmri import FmriEncodingModel
    from bergforge.export.own_layout import OwnModel

SUPPORTED_MODALITIES = ("meg", "eeg", "fmri")
MEG_TRAIN_SPLITS = ("all", "single")
DEVICES = ("auto", "cpu", "cuda")
BATCH_SIZE = 100


@dataclass
class EncodingModel:
    """A loaded model: backbone, one readout per split/repetition, and what the output holds."""

    model_id: str
    subject: int
    train_splits: str | None
    extractor: FeatureExtractor
    readouts: list[LinearReadout]
    out_shape: tuple[int, int]
    stacked: bool
    metadata: dict

    def generate_response(self, stimulus: np.ndarray, show_progress: bool = False) -> np.ndarray:
        """In-silico responses (batch, [4,] channels, times) float32 to uint8 images."""
        out = []
        for batch in stimulus_batches(stimulus, BATCH_SIZE, self.model_id, show_progress):
            feats = self.extractor(batch)
            preds = [r.predict(feats).reshape(len(feats), *self.out_shape) for r in self.readouts]
            out.append(np.stack(preds, axis=1) if self.stacked else preds[0])
        return np.concatenate(out).astype(np.float32)


class BERG:
    """A BERG tree (``{berg_dir}/encoding_models/…``) of encoding models.

    ``model_kinds`` (kind name → module) registers model kinds that are neither built in nor
    installed under the ``bergforge.model_kinds`` entry points, for models in bergforge's layout.
    """

    def __init__(self, berg_dir: str | Path, model_kinds: dict[str, str] | None = None):
        self.berg_dir = Path(berg_dir)
        if not any((self.berg_dir / d).is_dir() for d in ("encoding_models", "decoding_models")):
            raise ModelNotFoundError(
                f"{self.berg_dir} is not a BERG directory: it has no 'encoding_models' folder "
                "(nor bergforge's 'decoding_models')"
            )
        if model_kinds is not None and not (
            isinstance(model_kinds, dict)
            and all(isinstance(v, str) for v in [*model_kinds, *model_kinds.values()])
        ):
            raise InvalidParameterError(
                f"model_kinds must map kind names to module paths (str → str); got {model_kinds!r}"
            )
        self.kinds_config = {"model_kinds": dict(model_kinds or {})}
        self.guard = ManifestGuard(self.berg_dir)
        self._own_models = OwnModels(self.guard)

    def list_models(self) -> list[str]:
        """Sorted ids of the MEG/EEG/fMRI models present in the tree."""
        return sorted(
            str(m) for m in layout.find_models(self.berg_dir) if m.modality in SUPPORTED_MODALITIES
        )

    def _model(self, model_id: object) -> layout.ModelId:
        parsed = layout.parse_model_id(model_id)
        if str(parsed) not in self.list_models():
            raise ModelNotFoundError(
                f"model {model_id!r} is not in {self.berg_dir}; available models: {self.list_models()}"
            )
        return parsed

    def _own(self, parsed: layout.ModelId) -> OwnModel | None:
        """The model if its folder is in bergforge's own layout (verified), else None."""
        return self._own_models.get(parsed.folder(self.berg_dir))

    def _layout(self, parsed: layout.ModelId) -> str:
        """The exported layout of a model folder, which says the kind (through the registry) and so
        the class that loads it: ``bergforge`` (own layout, kind in its JSON), ``mosaic`` (a
        ``.pth`` checkpoint: the ``cnn8`` kind) or ``berg_linear`` (``.npy`` weights: ``linear``)."""
        if self._own(parsed) is not None:
            return "bergforge"
        weights = parsed.folder(self.berg_dir) / layout.WEIGHTS_DIR
        found = "mosaic" if any(weights.glob("*.pth")) else "berg_linear"
        return kind_for_layout(found).export_layout

    def subjects(self, model_id: str) -> list[int]:
        """Subjects with a metadata file in the model's ``metadata/`` folder."""
        parsed = self._model(model_id)
        own = self._own(parsed)
        if own is not None:
            return own.subjects
        if self._layout(parsed) == "mosaic":
            from bergforge.api.fmri import available_subjects

            return available_subjects(parsed.folder(self.berg_dir))
        folder = parsed.folder(self.berg_dir) / layout.METADATA_DIR
        found = (layout.subject_of_metadata(parsed.modality, p.name) for p in folder.glob("*.npy"))
        return sorted(s for s in found if s is not None)

    def _subject(self, model_id: str, subject: object) -> int:
        if isinstance(subject, bool) or not isinstance(subject, int | np.integer):
            raise InvalidParameterError(
                f"subject must be an int, one of {self.subjects(model_id)}; got {subject!r}"
            )
        valid = self.subjects(model_id)
        if int(subject) not in valid:
            raise InvalidParameterError(
                f"subject must be one of {valid} for {model_id}; got {subject!r}"
            )
        return int(subject)

    def get_model_metadata(self, model_id: str, subject: int) -> dict:
        """The metadata dict of one subject (``metadata/metadata_{P1|subject-01}.npy``); for a
        model in bergforge's layout, its ``bergforge_model.json``."""
        parsed = self._model(model_id)
        subject = self._subject(model_id, subject)
        own = self._own(parsed)
        if own is not None:
            return copy.deepcopy(own.meta)
        if self._layout(parsed) == "mosaic":
            from bergforge.export.fmri_names import metadata_relpath

            path = parsed.folder(self.berg_dir) / metadata_relpath(subject)
            return load_pickled_dict(path, self.guard)
        folder = parsed.folder(self.berg_dir) / layout.METADATA_DIR
        return load_pickled_dict(
            folder / layout.metadata_name(parsed.modality, subject), self.guard
        )

    def get_encoding_model(
        self,
        model_id: str,
        subject: int | list[int] | str,
        train_splits: str | None = None,
        selection: dict | None = None,
        device: str = "auto",
    ) -> EncodingModel | FmriEncodingModel | OwnEncodingModel:
        """Load a model; ``selection`` keeps only the chosen outputs (weights sliced at load)."""
        parsed = self._model(model_id)
        own = self._own(parsed)
        if own is not None:
            subject = self._subject(model_id, subject)
            return load_own_model(
                own, subject, train_splits, selection, _resolve_device(device), self.kinds_config
            )
        if self._layout(parsed) == "mosaic":
            if train_splits is not None:
                raise InvalidParameterError(
                    f"train_splits applies to MEG models only; got train_splits={train_splits!r}"
                )
            from bergforge.api.fmri import load_fmri_model  # torch: imported on first use

            device = _resolve_device(device)
            return load_fmri_model(
                parsed.folder(self.berg_dir), str(parsed), subject, selection, device, self.guard
            )
        subject = self._subject(model_id, subject)
        train_splits = _check_train_splits(parsed.modality, train_splits)
        device = _resolve_device(device)
        selection = check_selection_keys(parsed.modality, selection)
        metadata = self.get_model_metadata(model_id, subject)
        folder = parsed.folder(self.berg_dir) / layout.WEIGHTS_DIR
        if parsed.modality == "meg":
            chosen, n_times = _meg_selection(metadata, selection)
            readouts = self._meg_readouts(folder, subject, train_splits, chosen.rows(n_times))
        else:
            chosen, n_times = _eeg_selection(metadata, selection)
            readouts = self._eeg_readouts(folder, subject, chosen.rows(n_times))
        recorded = metadata.get("bergforge", {}).get("backbone")
        extractor = build_feature_extractor(parsed.backbone, device, recorded)
        _check_same_width(readouts, str(parsed))
        return EncodingModel(
            model_id=str(parsed),
            subject=subject,
            train_splits=train_splits,
            extractor=extractor,
            readouts=readouts,
            out_shape=(len(chosen.channels), len(chosen.times)),
            stacked=parsed.modality == "eeg" or train_splits == "single",
            metadata=metadata,
        )

    def _meg_readouts(
        self, folder: Path, subject: int, train_splits: str, rows: np.ndarray
    ) -> list[LinearReadout]:
        names = layout.meg_weights_names(subject, train_splits)
        if train_splits == "all" and not (folder / names[0]).is_file():
            names = [layout.meg_legacy_all_name(subject)]  # older published name
        readouts = []
        for name in names:
            w = load_pickled_dict(folder / name, self.guard)
            _require_keys(w, name)
            readouts.append(
                build_readout(w["scaler_param"], w["pca_param"], w["reg_param"], rows, name)
            )
        return readouts

    def _eeg_readouts(self, folder: Path, subject: int, rows: np.ndarray) -> list[LinearReadout]:
        name = layout.eeg_weights_name(subject)
        w = load_pickled_dict(folder / name, self.guard)
        _require_keys(w, name)
        reps = repetition_keys(w["pca_param"], f"{name} pca_param")
        if repetition_keys(w["reg_param"], f"{name} reg_param") != reps:
            raise ModelLoadError(f"{name}: pca_param and reg_param list different repetitions")
        return [
            build_readout(
                w["scaler_param"], w["pca_param"][r], w["reg_param"][r], rows, f"{name} {r}"
            )
            for r in reps
        ]

    def list_decoding_models(self) -> list[str]:
        """Sorted ``{modality}/{dataset}/{model}`` of the exported decoders in the tree."""
        from bergforge.export.decoder_layout import DECODING_DIR, is_decoder

        root = self.berg_dir / DECODING_DIR
        found = [p for p in root.glob("modality-*/train_dataset-*/model-*") if is_decoder(p)]
        return sorted(
            "/".join(part.split("-", 1)[1] for part in p.relative_to(root).parts) for p in found
        )

    def get_decoding_model(
        self, dataset: str, model: str, modality: str | None = None, device: str = "auto"
    ):
        """Load the exported decoder ``model`` (e.g. ``ridge_decoder-clip``) of ``dataset``
        (verified against its ``SHA256SUMS``); see :class:`bergforge.api.decoder.DecodingModel`.
        ``modality`` (``fmri``, ``meg``, ``eeg``) may be left out when one modality has it."""
        from bergforge.api.decoder import load_decoding_model
        from bergforge.export.decoder_layout import DecoderFolder, decoder_folder, is_decoder

        names = (dataset, model, "fmri" if modality is None else modality)
        if not all(isinstance(v, str) and v and "/" not in v and ".." not in v for v in names):
            raise InvalidParameterError(
                f"dataset, model and modality must be plain names; got {names!r}"
            )
        if modality is None:
            found = [
                m
                for m in SUPPORTED_MODALITIES
                if is_decoder(decoder_folder(self.berg_dir, m, dataset, model))
            ]
            if len(found) > 1:
                raise InvalidParameterError(
                    f"decoders {dataset}/{model} of modalities {found} in {self.berg_dir}; pass "
                    "modality= to choose one"
                )
            modality = found[0] if found else "fmri"
        folder = decoder_folder(self.berg_dir, modality, dataset, model)
        if not is_decoder(folder):
            raise ModelNotFoundError(
                f"no decoder {modality}/{dataset}/{model} in {self.berg_dir}; available: "
                f"{self.list_decoding_models()}"
            )
        decoder = DecoderFolder.open(folder)
        return load_decoding_model(decoder, _resolve_device(device), self.kinds_config)

    def encode(
        self,
        model: EncodingModel,
        stimulus: np.ndarray,
        return_metadata: bool = False,
        show_progress: bool = False,
    ):
        """Responses of ``model`` to ``stimulus``; with ``return_metadata`` a (responses, metadata) pair."""
        from bergforge.api.fmri import FmriEncodingModel

        if not isinstance(model, EncodingModel | FmriEncodingModel | OwnEncodingModel):
            raise InvalidParameterError(
                f"model must come from BERG.get_encoding_model; got {type(model).__name__}"
            )
        responses = model.generate_response(stimulus, show_progress=show_progress)
        return (responses, model.metadata) if return_metadata else responses


def _check_train_splits(modality: str, train_splits: object) -> str | None:
    if modality != "meg":
        if train_splits is not None:
            raise InvalidParameterError(
                f"train_splits applies to MEG models only; {modality.upper()} models always "
                f"return their 4 repetitions (got train_splits={train_splits!r})"
            )
        return None
    train_splits = "all" if train_splits is None else train_splits
    if train_splits not in MEG_TRAIN_SPLITS:
        raise InvalidParameterError(
            f"train_splits must be one of {list(MEG_TRAIN_SPLITS)}; got {train_splits!r}"
        )
    return train_splits


def _resolve_device(device: object) -> str:
    import torch

    if device not in DEVICES:
        raise InvalidParameterError(f"device must be one of {list(DEVICES)}; got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError("device 'cuda' was requested but CUDA is not available")
    return device


def _require_keys(weights: dict, name: str) -> None:
    missing = [k for k in ("scaler_param", "pca_param", "reg_param") if k not in weights]
    if missing:
        raise ModelLoadError(f"{name} lacks {missing}; expected scaler_param, pca_param, reg_param")


def _meg_selection(metadata: dict, selection: dict):
    try:
        sensors, times = metadata["sensors"], metadata["meg"]["times"]
        prefixes, regions = sensors["sensor_prefixes"], sensors["sensor_regions"]
    except (KeyError, TypeError) as err:
        raise ModelLoadError(
            f"MEG metadata lacks {err}; expected sensors/… and meg/times"
        ) from None
    return resolve_meg(selection, prefixes, regions, len(times)), len(times)


def _eeg_selection(metadata: dict, selection: dict):
    try:
        ch_names, times = metadata["eeg"]["ch_names"], metadata["eeg"]["times"]
    except (KeyError, TypeError) as err:
        raise ModelLoadError(
            f"EEG metadata lacks {err}; expected eeg/ch_names and eeg/times"
        ) from None
    return resolve_eeg(selection, list(ch_names), len(times)), len(times)


def _check_same_width(readouts: list, model_id: str) -> None:
    """Every split of a model must read the same feature vector."""
    widths = {r.scale_mean.shape[0] for r in readouts}
    if len(widths) != 1:
        raise ModelLoadError(f"{model_id}: its splits expect different feature widths {widths}")
