"""The fit job of the ``fmri_mlp`` and ``fmri_linear`` kinds: every subject's BOLD windows → one
``FmriMlp`` (``fmri_linear``: its linear form) → ``weights.safetensors`` + ``model.json`` (written
last) in ``results/models/{dataset}/{model}/``.

The network is trained on the pooled ``train`` trials of every subject (with ``subject_layers``,
each trial through its subject's own first layer: the fit request's k-th subject is row k),
stopped early on the pooled ``validation`` trials' in-batch top-5
(:func:`bergforge.models.decoding.train.train_decoder`); the ``test`` trials are never read here.
Inputs are the stored windows as they are (z-scored per run and vertex by the preprocessing),
targets the image embeddings as they are (no scaler, as neuralbench). The per-epoch checkpoint
(``checkpoint.safetensors``) lives in the folder while training runs and is deleted at the end,
before the fit job seals the folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.atomic import save_json
from bergforge.errors import DataError
from bergforge.models.decoding.data import check_split, pooled_trials
from bergforge.models.decoding.record import MARKER, WEIGHTS, base_record
from bergforge.models.decoding.settings import FMRI_DECODER_CONFIGS
from bergforge.models.decoding.weights import network_record
from bergforge.models.kind import FitRequest
from bergforge.models.mlp.weights import write_weights

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"


#: the largest target embedding fmri_mlp takes: its head is square in the embedding size (16,384²
#: float32 weights and their two AdamW moments are 3.2 GB)
MAX_TARGET_DIMS = 16_384


def fit_fmri_decoder(
    kind: str,
    request: FitRequest,
    folder: Path,
    on_epoch_end: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Fit the dataset's ``kind`` (``fmri_mlp`` or ``fmri_linear``, one of
    :data:`~bergforge.models.decoding.settings.FMRI_DECODER_CONFIGS`) of a fit job into
    ``folder``; returns ``model.json``.

    ``on_epoch_end`` is :func:`bergforge.models.decoding.train.train_decoder`'s test hook."""
    import torch

    from bergforge.models.decoding.train import decoder_device, train_decoder
    from bergforge.models.mlp.train import fingerprint, start_job

    check_split(request.split, kind)
    cfg = FMRI_DECODER_CONFIGS[kind].from_settings(request.settings, request.runtime)
    device = decoder_device(cfg)
    start_job(request, device, cfg.device, log)
    data = pooled_trials(request)
    if len(data.target_shape) != 2 or data.target_shape[1] != cfg.n_trs:
        raise DataError(
            f"{data.stores[0].label}: trials of dims {data.dims} and shape {data.target_shape}; "
            f"{kind} expects [trial, vertex, tr] windows of n_trs = {cfg.n_trs} samples "
            f"({cfg.SECTION}.n_trs, or the window of the preprocessing)"
        )
    if data.n_dims > MAX_TARGET_DIMS:
        raise DataError(
            f"{kind}: the targets ({request.features}) have {data.n_dims:,} dimensions (every "
            f"layer of the backbone); its output head is a {data.n_dims:,} × {data.n_dims:,} "
            f"matrix. Expected at most {MAX_TARGET_DIMS:,}: choose one layer with "
            "`backbones.<name>.layers` (dinov2_giant reads one layer, 1,536 dimensions)"
        )
    rows, fit, validation = data.training_rows(kind)
    x, digest = data.read_onto(rows, device)  # on a GPU, the windows never sit on the host whole
    y = data.targets(rows)
    subjects = data.table["store"].to_numpy(dtype=np.int64)[rows]  # k = request.subjects[k]
    log.info(
        "%s: %d train and %d validation trials of %d subjects, windows %s → %d dims",
        kind,
        fit.size,
        validation.size,
        len(data.stores),
        data.target_shape,
        data.n_dims,
    )
    folder = Path(folder)
    checkpoint = folder / CHECKPOINT
    trained = train_decoder(
        x,
        y,
        fit,
        validation,
        cfg,
        torch.device(device),
        checkpoint,
        fingerprint(y, start=digest),  # = fingerprint(x, y)
        on_epoch_end,
        subjects if cfg.subject_layers else None,
    )
    write_weights(folder / WEIGHTS, {k: v.astype(np.float32) for k, v in trained.weights.items()})
    # the subject layer's rows: the fit's subjects up to the last one with trials fitted or
    # validated (a subject after it has no layer, and the model refuses to decode it)
    layers = trained.weights.get("subject_layers.weight")
    layered = list(request.subjects)[: 0 if layers is None else layers.shape[0]]
    model = {
        **base_record(kind, request, data),
        "network": network_record(int(x.shape[1]), data.n_dims, cfg, layered),
        "settings": cfg.hyperparameters(),
        "epochs": trained.epochs,
        "best_epoch": trained.best_epoch,
        "best_validation_top5": trained.best_val_top5,
        "history": trained.history,
        "seeds": {kind: cfg.seed},
        "device": str(device),
    }
    save_json(folder / MARKER, model)
    checkpoint.unlink(missing_ok=True)
    return model
