"""The fit job of the ``simple_conv`` kind: every subject's MEG/EEG windows → one
``SimpleConvTimeAgg`` → ``weights.safetensors`` + ``model.json`` (written last) in
``results/models/{dataset}/{model}/``.

The network is trained on the pooled ``train`` trials of every subject (no subject layer, as
neuralbench's ``image`` tasks), stopped early on the pooled ``validation`` trials' in-batch top-5
(:func:`bergforge.models.decoding.simple_conv_train.train_simple_conv`); the ``test`` trials are
never read here. Inputs are the stored windows as they are (robust-scaled, baseline-corrected and
clamped by the preprocessing), the sensor positions those the stores record
(``preprocessing.sensor_positions_normalised``, the same in every subject's store), targets the
image embeddings as they are. The per-epoch checkpoint (``checkpoint.safetensors``) lives in the
folder while training runs and is deleted before the fit job seals the folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.atomic import save_json
from bergforge.errors import ConfigError, DataError
from bergforge.models.decoding.data import PooledTrials, check_split, pooled_trials
from bergforge.models.decoding.record import MARKER, WEIGHTS, base_record
from bergforge.models.decoding.simple_conv_settings import SimpleConvConfig
from bergforge.models.decoding.simple_conv_weights import KIND, network_record
from bergforge.models.kind import FitRequest
from bergforge.models.mlp.weights import write_weights

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"
#: the windows' dims the kind reads (the trial-indexed stores of the neuralbench variant)
DIMS = ["trial", "channel", "time"]
#: the largest target embedding taken (the head is backbone_out × dims; every layer of a
#: backbone is far wider: choose one with `backbones.<name>.layers`)
MAX_TARGET_DIMS = 16_384


def store_positions(data: PooledTrials) -> np.ndarray:
    """The sensor positions (channels × 2 or 3, in [0, 1]) every subject's store records; one
    clear error when a store has none or another subject's differ."""
    found = []
    for store in data.stores:
        value = store.preprocessing.get("sensor_positions_normalised")
        if value is None:
            raise DataError(
                f"{store.label}: no preprocessing.sensor_positions_normalised; expected the "
                "store of a MEG/EEG dataset with `preprocess: {variant: neuralbench}`"
            )
        found.append(np.asarray(value, dtype=np.float32))
    for store, positions in zip(data.stores[1:], found[1:], strict=True):
        if positions.shape != found[0].shape or not np.allclose(positions, found[0], atol=1e-6):
            raise DataError(
                f"{store.label}: sensor positions differ from {data.stores[0].label}'s; "
                "expected every subject on the same sensors to pool them"
            )
    return found[0]


def fit_simple_conv(
    request: FitRequest, folder: Path, on_epoch_end: Callable[..., None] | None = None
) -> dict[str, Any]:
    """Fit the dataset's ``simple_conv`` of a fit job into ``folder``; returns ``model.json``.

    ``on_epoch_end`` is the training loop's test hook."""
    import torch

    from bergforge.models.decoding.simple_conv_train import simple_conv_device, train_simple_conv
    from bergforge.models.mlp.train import fingerprint, start_job

    check_split(request.split, KIND)
    cfg = SimpleConvConfig.from_settings(request.settings, request.runtime)
    if cfg.subject_layers:
        raise ConfigError(
            f"{cfg.SECTION}.subject_layers: not available in the workflow (a fitted decoder "
            "decodes responses without their subject); expected false, as neuralbench's task"
        )
    device = simple_conv_device(cfg)
    start_job(request, device, cfg.device, log)
    data = pooled_trials(request)
    if data.dims != DIMS:
        raise DataError(
            f"{data.stores[0].label}: trials of dims {data.dims}; {KIND} expects {DIMS} windows "
            "(a MEG/EEG dataset with `preprocess: {variant: neuralbench}`)"
        )
    if data.n_dims > MAX_TARGET_DIMS:
        raise DataError(
            f"{KIND}: the targets ({request.features}) have {data.n_dims:,} dimensions (every "
            f"layer of the backbone); expected at most {MAX_TARGET_DIMS:,}: choose one layer "
            "with `backbones.<name>.layers` (dinov2_giant reads one layer, 1,536 dimensions)"
        )
    positions = store_positions(data)
    rows, fit, validation = data.training_rows(KIND)
    x, digest = data.read_onto(rows, device)  # on a GPU, the windows never sit on the host whole
    y = data.targets(rows)
    log.info(
        "%s: %d train and %d validation trials of %d subjects, windows %s → %d dims on %s",
        KIND,
        fit.size,
        validation.size,
        len(data.stores),
        data.target_shape,
        data.n_dims,
        device,
    )
    folder = Path(folder)
    checkpoint = folder / CHECKPOINT
    trained = train_simple_conv(
        x,
        y,
        positions,
        fit,
        validation,
        cfg,
        torch.device(device),
        checkpoint,
        fingerprint(y, start=digest),  # = fingerprint(x, y)
        on_epoch_end=on_epoch_end,
    )
    write_weights(folder / WEIGHTS, {k: v.astype(np.float32) for k, v in trained.weights.items()})
    n_channels, n_times = data.target_shape
    model = {
        **base_record(KIND, request, data),
        "network": network_record(n_channels, n_times, data.n_dims, int(positions.shape[1])),
        "sensor_positions_source": data.stores[0].preprocessing.get("sensor_positions_source"),
        "preprocessing_variant": data.stores[0].preprocessing.get("variant"),
        "settings": cfg.hyperparameters(),
        "epochs": trained.epochs,
        "best_epoch": trained.best_epoch,
        "best_validation_top5": trained.best_val_top5,
        "history": trained.history,
        "seeds": {KIND: cfg.seed},
        "device": str(device),
    }
    save_json(folder / MARKER, model)
    checkpoint.unlink(missing_ok=True)
    return model
