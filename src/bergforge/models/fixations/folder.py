"""A fitted fixation model's folder: ``weights.safetensors``, ``model.json``, ``checksums.json``.

Written whole or not at all (:func:`bergforge.atomic.atomic_folder`; ``checksums.json``, the
size and SHA-256 of the other two, last, :func:`bergforge.models.folder_checksums.seal_model_folder`)
and read only after every file matches it (:func:`verify_model_folder`): a damaged, missing or
swapped file is one :class:`~bergforge.errors.DataError`, never a model. No pickle.
"""

from __future__ import annotations

import json
from pathlib import Path

from bergforge import __version__
from bergforge.atomic import atomic_folder, save_json
from bergforge.errors import DataError
from bergforge.models.fixations.model import FixationModel
from bergforge.models.fixations.settings import FIXATION_KINDS
from bergforge.models.folder_checksums import seal_model_folder, verify_model_folder
from bergforge.models.mlp.weights import WEIGHTS, read_weights, write_weights

MODEL_JSON = "model.json"
FORMAT = "bergforge-fixation-model"
FORMAT_VERSION = 1


def save_fixation_model(model: FixationModel, folder: Path | str) -> None:
    """Write ``model`` into ``folder`` (replacing a previous one whole)."""
    model.check()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "bergforge_version": __version__,
        **model.config(),
    }
    with atomic_folder(Path(folder)) as building:
        write_weights(building / WEIGHTS, model.tensors())
        save_json(building / MODEL_JSON, payload)
        seal_model_folder(building)


def load_fixation_model(folder: Path | str) -> FixationModel:
    """The model of ``folder`` after its checksums, format and tensors are checked."""
    folder = verify_model_folder(Path(folder))
    tensors = read_weights(folder)
    try:
        payload = json.loads((folder / MODEL_JSON).read_text())
        if payload.get("format") != FORMAT or payload.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"expected format {FORMAT!r} version {FORMAT_VERSION}")
        kind = payload.pop("kind")
        subjects = [int(s) for s in payload.pop("subjects")]
        for key in ("format", "format_version", "bergforge_version"):
            payload.pop(key)
        if kind not in FIXATION_KINDS:
            raise ValueError(f"kind {kind!r}; expected one of {FIXATION_KINDS}")
        for key in ("n_features", "n_targets"):
            payload[key] = int(payload[key])
        model = FixationModel(kind, subjects, dict(tensors), payload)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(f"{folder / MODEL_JSON}: not a fixation model's record ({err})") from err
    model.check()
    return model
