"""The fit job of the ``shared`` kind: every subject's training set → one trunk + adapters →
``weights.safetensors`` + ``model.json`` (written last) in ``results/models/{dataset}/{model}/``.

``model.json`` records the subjects, the union's training and held-out image ids, each subject's
image and target counts, the settings, the training history, the kept epoch, the seeds and the
device. The per-epoch checkpoint (``checkpoint.safetensors``) lives in the folder while training
runs and is deleted at the end, before the fit job seals the folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge import __version__
from bergforge.atomic import save_json
from bergforge.errors import DataError
from bergforge.models.kind import FitRequest
from bergforge.models.mlp.data import check_split
from bergforge.models.mlp.job import pca_tensors
from bergforge.models.mlp.weights import WEIGHTS, write_weights
from bergforge.models.shared.data import SharedSet, check_subjects, shared_set
from bergforge.models.shared.settings import SharedConfig
from bergforge.models.shared.weights import adapter_key, target_key

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"
MARKER = "model.json"


def open_request(
    request: FitRequest, cfg_device: str, section: str = "models.shared"
) -> tuple[Any, pd.DataFrame, str, int]:
    """(feature matrix, stimulus table, device, threads) of a fit request; logs the runtime and
    sets torch's thread count (``section``: the config section a bad ``device`` is named by)."""

    from bergforge.features.store import FeatureStore
    from bergforge.models.mlp.train import resolve_device, start_job
    from bergforge.preprocess.stimuli import read_stimuli

    device = resolve_device(cfg_device, section)
    threads = start_job(request, device, cfg_device, log)
    features = FeatureStore.open(request.features)
    stimuli = read_stimuli(request.stimuli)
    if list(stimuli["image_id"]) != list(features.image_ids):
        raise DataError(f"feature rows of {request.features} do not follow {request.stimuli}")
    return features, stimuli, str(device), threads


def fit_shared(
    request: FitRequest, folder: Path, on_epoch_end: Callable[..., None] | None = None
) -> dict[str, Any]:
    """Fit the dataset's shared model of a fit job into ``folder``; returns ``model.json``."""
    from bergforge.preprocess.responses import PreparedResponses

    check_split(request.split, "shared")
    check_subjects(list(request.subjects))
    if len(request.prepared) != len(request.subjects):
        raise DataError(
            f"{len(request.prepared)} prepared stores for subjects {list(request.subjects)}"
        )
    cfg = SharedConfig.from_settings(request.settings, request.runtime)
    features, stimuli, device, threads = open_request(request, cfg.device, cfg.SECTION)
    stores = [PreparedResponses(p) for p in request.prepared]
    for subject, store in zip(request.subjects, stores, strict=True):
        if int(store.subject) != int(subject):
            raise DataError(f"{store.path} is subject {store.subject}'s; expected {subject}'s")
    provenance = {"features": str(request.features), "prepared": [str(p) for p in request.prepared]}
    return fit_subjects(
        stores, stimuli, features, cfg, Path(folder), device, threads, provenance, on_epoch_end
    )


def train_shared(
    stores: list[Any],
    stimuli: pd.DataFrame,
    features: Any,
    cfg: SharedConfig,
    checkpoint: Path,
    device: str = "cpu",
    threads: int = 1,
    on_epoch_end: Callable[..., None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train the trunk and adapters of the subjects of ``stores`` (resuming from
    ``checkpoint``); return the tensors (:mod:`bergforge.models.shared.weights`) and the record
    of the training (the ``model.json`` keys after ``kind``)."""
    import torch
    from threadpoolctl import threadpool_limits

    from bergforge.models.mlp.train import fingerprint
    from bergforge.models.shared.train import Samples, train_shared_network

    with threadpool_limits(limits=threads, user_api="blas"):
        data = shared_set(stores, stimuli, features, cfg)
    fit = Samples.of([(p.inputs[p.fit], p.fit) for p in data.subjects])
    validation = Samples.of([(p.inputs[p.validation], p.validation) for p in data.subjects])
    stats = [a for p in data.subjects for a in (p.standardisation.mean, p.standardisation.scale)]
    data_id = fingerprint(
        data.inputs,
        np.asarray(data.subject_ids),
        *(getattr(s, f) for s in (fit, validation) for f in ("subject", "input_row", "target_row")),
        *stats,
    )
    trained = train_shared_network(
        data.inputs,
        [p.targets for p in data.subjects],
        fit,
        validation,
        cfg,
        torch.device(device),
        Path(checkpoint),
        data_id,
        on_epoch_end,
    )
    return _tensors(data, trained.weights), _record(data, cfg, trained, device)


def fit_subjects(
    stores: list[Any],
    stimuli: pd.DataFrame,
    features: Any,
    cfg: SharedConfig,
    folder: Path,
    device: str = "cpu",
    threads: int = 1,
    provenance: dict[str, Any] | None = None,
    on_epoch_end: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Fit the shared model of ``stores``' subjects and write ``weights.safetensors`` then
    ``model.json`` into ``folder``."""
    folder = Path(folder)
    checkpoint = folder / CHECKPOINT
    tensors, record = train_shared(
        stores, stimuli, features, cfg, checkpoint, device, threads, on_epoch_end
    )
    write_weights(folder / WEIGHTS, tensors)
    model = {
        "kind": "shared",
        **record,
        "provenance": {"bergforge_version": __version__, **(provenance or {})},
    }
    save_json(folder / MARKER, model)
    checkpoint.unlink(missing_ok=True)
    return model


def _tensors(data: SharedSet, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The network's parameters under the file's names, the standardisations and the PCA."""
    out: dict[str, np.ndarray] = {}
    for name, value in weights.items():
        value = value.astype(np.float32)
        if name.startswith("hidden."):
            out[f"trunk.{name}"] = value
        else:  # adapters.{j}.weight → adapter.sub-XX.weight
            _, j, what = name.split(".")
            out[f"{adapter_key(data.subject_ids[int(j)])}.{what}"] = value
    out |= {
        "input.mean": data.input_standardisation.mean,
        "input.scale": data.input_standardisation.scale,
    }
    for part in data.subjects:
        out[f"{target_key(part.subject)}.mean"] = part.standardisation.mean
        out[f"{target_key(part.subject)}.scale"] = part.standardisation.scale
    if data.pca is not None:
        out |= pca_tensors(data.scaler, data.pca)
    return out


def _record(data: SharedSet, cfg: SharedConfig, trained: Any, device: str) -> dict[str, Any]:
    first = data.subjects[0].responses
    held_out = set(data.validation_images.tolist())
    return {
        "split": "all",
        "modality": first.modality,
        "subjects": data.subject_ids,
        "target_dims": list(first.attrs.get("dims", []))[2:],
        "target_shapes": {
            f"sub-{p.subject:02d}": list(p.responses.target_shape) for p in data.subjects
        },
        "input": cfg.input,
        "n_inputs": int(data.inputs.shape[1]),
        "network": {"hidden": cfg.hidden, "depth": cfg.depth, "activation": "gelu"},
        "settings": cfg.hyperparameters(),
        "train_image_ids": data.image_ids,
        "validation_image_ids": [data.image_ids[i] for i in sorted(held_out)],
        "subject_images": {
            f"sub-{p.subject:02d}": {
                "train_image_indices": p.images.tolist(),
                "n_fitted": int(p.fit.size),
                "n_validation": int(p.validation.size),
            }
            for p in data.subjects
        },
        "epochs": trained.epochs,
        "best_epoch": trained.best_epoch,
        "best_validation_loss": trained.best_validation_loss,
        "history": trained.history,
        "seeds": {"shared": cfg.seed, "validation": [cfg.seed, 0], "pca": data.pca_seed},
        "pca": data.pca_record,
        "device": device,
    }
