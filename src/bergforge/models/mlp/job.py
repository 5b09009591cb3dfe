"""The fit job of the ``mlp`` kind: training set → network → ``weights.safetensors`` + ``model.json``.

``model.json`` (written last, the marker) records the data (training and held-out image ids),
the settings, the training history (losses per epoch), the kept epoch, the seeds and the device
the network was trained on. The per-epoch checkpoint (``checkpoint.safetensors``) lives in the
model folder while training runs and is deleted at the end, before the fit job seals the folder.
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
from bergforge.models.mlp.data import (
    SPLIT,
    Standardisation,
    check_split,
    fit_request_subject,
    training_set,
)
from bergforge.models.mlp.settings import MlpConfig
from bergforge.models.mlp.weights import WEIGHTS, write_weights

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"
MARKER = "model.json"


def fit_mlp(
    request: FitRequest, folder: Path, on_epoch_end: Callable[..., None] | None = None
) -> dict[str, Any]:
    """Fit the subject's MLP of a fit job into ``folder``; returns the ``model.json`` payload.

    ``on_epoch_end`` is :func:`bergforge.models.mlp.train.train_network`'s test hook."""

    from bergforge.features.store import FeatureStore
    from bergforge.models.mlp.train import resolve_device, start_job
    from bergforge.preprocess.responses import PreparedResponses
    from bergforge.preprocess.stimuli import read_stimuli

    check_split(request.split)
    subject = fit_request_subject(request)
    cfg = MlpConfig.from_settings(request.settings, request.runtime)
    device = resolve_device(cfg.device, cfg.SECTION)
    threads = start_job(request, device, cfg.device, log)
    features = FeatureStore.open(request.features)
    stimuli = read_stimuli(request.stimuli)
    if list(stimuli["image_id"]) != list(features.image_ids):
        raise DataError(f"feature rows of {request.features} do not follow {request.stimuli}")
    return fit_subject(
        PreparedResponses(request.prepared[0]),
        stimuli,
        features,
        cfg,
        subject,
        Path(folder),
        device=str(device),
        threads=threads,
        provenance={"features": str(request.features), "prepared": str(request.prepared[0])},
        on_epoch_end=on_epoch_end,
    )


def fit_subject(
    responses: Any,
    stimuli: pd.DataFrame,
    features: Any,
    cfg: MlpConfig,
    subject: int,
    folder: Path,
    device: str = "cpu",
    threads: int = 1,
    provenance: dict[str, Any] | None = None,
    on_epoch_end: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Fit one subject's MLP from a prepared store, its stimulus table and a feature matrix, and
    write ``weights.safetensors`` then ``model.json`` into ``folder``."""
    import torch
    from threadpoolctl import threadpool_limits

    from bergforge.models.mlp.train import fingerprint, train_network

    folder = Path(folder)
    with threadpool_limits(limits=threads, user_api="blas"):
        data = training_set(responses, stimuli, features, cfg, subject)
    inputs = Standardisation.of(data.inputs[data.fit], per_column=cfg.input == "features")
    x = inputs.apply(data.inputs)
    y = data.targets  # standardised in place: the largest array is not copied
    targets = Standardisation.of(y[data.fit], per_column=True)
    y -= targets.mean
    y /= targets.scale
    fit, val = data.fit, data.validation
    data_id = fingerprint(x, fit, val, targets.mean, targets.scale)
    checkpoint = folder / CHECKPOINT
    trained = train_network(
        x, y, fit, val, cfg, torch.device(device), checkpoint, data_id, on_epoch_end
    )
    tensors = {f"mlp.{k}": v.astype(np.float32) for k, v in trained.weights.items()}
    tensors |= {"input.mean": inputs.mean, "input.scale": inputs.scale}
    tensors |= {"target.mean": targets.mean, "target.scale": targets.scale}
    if data.pca is not None:
        tensors |= pca_tensors(data.scaler, data.pca)
    write_weights(folder / WEIGHTS, tensors)
    model = {
        "kind": "mlp",
        "split": SPLIT,
        "modality": responses.modality,
        "subject": responses.subject,
        "target_dims": list(responses.attrs.get("dims", []))[2:],
        "target_shape": list(responses.target_shape),
        "input": cfg.input,
        "n_inputs": int(x.shape[1]),
        "n_features": int(features.shape[1]),
        "network": {"hidden": cfg.hidden, "depth": cfg.depth, "activation": "gelu"},
        "settings": cfg.hyperparameters(),
        "train_image_indices": data.images.tolist(),
        "train_image_ids": data.image_ids,
        "validation_image_ids": [data.image_ids[i] for i in val],
        "epochs": trained.epochs,
        "best_epoch": trained.best_epoch,
        "best_validation_loss": trained.best_validation_loss,
        "history": trained.history,
        "seeds": {"mlp": cfg.seed, "validation": [cfg.seed, subject], "pca": data.pca_seed},
        "pca": data.pca_record,
        "device": device,
        "provenance": {"bergforge_version": __version__, **(provenance or {})},
    }
    save_json(folder / MARKER, model)
    checkpoint.unlink(missing_ok=True)
    return model


def pca_tensors(scaler: Any, pca: Any) -> dict[str, np.ndarray]:
    """The split's scaler and PCA under the ``linear`` kind's attribute names."""
    return {
        "scaler.mean_": np.asarray(scaler.mean_, dtype=np.float64),
        "scaler.scale_": np.asarray(scaler.scale_, dtype=np.float64),
        "scaler.var_": np.asarray(scaler.var_, dtype=np.float64),
        "scaler.n_samples_seen_": np.array([scaler.n_samples_seen_], dtype=np.int64),
        "pca.components_": np.asarray(pca.components_, dtype=np.float32),
        "pca.explained_variance_": np.asarray(pca.explained_variance_, dtype=np.float64),
        "pca.explained_variance_ratio_": np.asarray(
            pca.explained_variance_ratio_, dtype=np.float64
        ),
        "pca.singular_values_": np.asarray(pca.singular_values_, dtype=np.float64),
        "pca.mean_": np.asarray(pca.mean_, dtype=np.float32),
        "pca.n_samples_": np.array([pca.n_samples_], dtype=np.int64),
        "pca.noise_variance_": np.array([pca.noise_variance_], dtype=np.float64),
    }
