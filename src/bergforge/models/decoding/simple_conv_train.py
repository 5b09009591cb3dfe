"""Training and applying one ``SimpleConvTimeAgg`` decoder: the ``fmri_mlp`` decoder's loop
(:mod:`bergforge.models.decoding.train`: CLIP loss, AdamW + OneCycleLR, gradient clipping, early
stopping on the validation in-batch top-5, the best epoch's weights kept, resumable per epoch)
with this network. Each epoch's spatial-dropout points come from the epoch's dropout generator
(``[seed, 2, epoch]``), so a resumed run draws the same ones."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bergforge.errors import DataError
from bergforge.models.decoding import train as loop
from bergforge.models.decoding.simple_conv import SimpleConvTimeAgg, build
from bergforge.models.decoding.simple_conv_settings import SimpleConvConfig
from bergforge.models.mlp.train import fingerprint, resolve_device

NAME = "simpleconv_time_agg"


def check_inputs(
    x: np.ndarray,
    y: np.ndarray,
    positions: np.ndarray,
    fit: np.ndarray,
    validation: np.ndarray,
    subjects: np.ndarray | None,
    cfg: SimpleConvConfig,
) -> None:
    """One clear error for inputs the decoder cannot train on."""
    if x.ndim != 3 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"{NAME}: expected windows (trials, channels, samples) and targets (trials, dims) "
            f"with as many trials, got {x.shape} and {y.shape}"
        )
    if not (loop.is_float32(x) and loop.is_float32(y)):
        raise DataError(f"{NAME}: expected float32 windows and targets, got {x.dtype}, {y.dtype}")
    if positions.ndim != 2 or positions.shape[0] != x.shape[1]:
        raise DataError(
            f"{NAME}: expected one sensor position per channel ({x.shape[1]}), got positions of "
            f"shape {positions.shape}"
        )
    for name, rows in (("fitted", fit), ("validation", validation)):
        rows = np.asarray(rows)
        if rows.size == 0 or rows.min() < 0 or rows.max() >= x.shape[0]:
            raise DataError(
                f"{NAME}: expected a non-empty set of {name} rows within 0…{x.shape[0] - 1}"
            )
    if cfg.subject_layers:
        if subjects is None or np.shape(subjects) != (x.shape[0],):
            raise DataError(f"{NAME}: subject_layers needs one subject index per trial")
        if np.asarray(subjects).min() < 0:
            raise DataError(f"{NAME}: expected subject indices ≥ 0")


def n_subjects_of(subjects: np.ndarray | None, cfg: SimpleConvConfig) -> int:
    """Rows of the subject layer: the largest subject index + 1 (0 without the layer)."""
    return int(np.max(subjects)) + 1 if cfg.subject_layers and subjects is not None else 0


def train_simple_conv(
    x: np.ndarray,
    y: np.ndarray,
    positions: np.ndarray,
    fit: np.ndarray,
    validation: np.ndarray,
    cfg: SimpleConvConfig,
    device: torch.device,
    checkpoint: Path,
    data_id: str,
    subjects: np.ndarray | None = None,
    on_epoch_end: Callable[[int, dict[str, float], torch.nn.Module], None] | None = None,
) -> loop.DecoderTrained:
    """Train (or resume from ``checkpoint``) on float32 windows ``x`` (trials, channels, samples)
    and image embeddings ``y`` (trials, dims), with the channels' ``positions`` normalised to
    [0, 1] (the store's ``sensor_positions_normalised``), fitting rows ``fit`` and
    early-stopping on rows ``validation``; the best epoch's weights (the positions among them).
    ``subjects``: each trial's subject index (0, 1, …), needed with ``subject_layers``.
    ``data_id`` identifies ``x`` and ``y`` (the rows are added here)."""
    positions = np.asarray(positions, dtype=np.float32)
    check_inputs(x, y, positions, fit, validation, subjects, cfg)
    xt, yt = loop.on_device(x, device), torch.from_numpy(y).to(device)
    fit = np.asarray(fit, dtype=np.int64)
    validation = np.asarray(validation, dtype=np.int64)
    fit_rows, val_rows = torch.from_numpy(fit).to(device), torch.from_numpy(validation).to(device)
    n_subjects = n_subjects_of(subjects, cfg)
    subj = torch.from_numpy(np.asarray(subjects, dtype=np.int64)).to(device) if n_subjects else None
    batch = min(cfg.batch_size, fit.size)
    total_steps = cfg.max_epochs * math.ceil(fit.size / batch)

    def fresh():
        model = build(torch.from_numpy(positions), x.shape[2], y.shape[1], cfg, n_subjects)
        model = model.to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return model, optimizer, loop.one_cycle(optimizer, cfg, total_steps)

    def train_epoch(model, optimizer, scheduler, epoch: int) -> torch.Tensor:
        order = loop.epoch_order(fit_rows, cfg.seed, epoch)
        generator = loop.dropout_generator(cfg.seed, epoch, device)
        return loop.run_epoch(
            model, optimizer, scheduler, xt, yt, order, batch, generator, cfg.grad_clip, subj
        )

    identity = json.dumps(
        {
            "hyperparameters": cfg.hyperparameters(),
            "data": data_id,
            "rows": fingerprint(fit, validation),
            "positions": fingerprint(positions),
            "subjects": fingerprint(np.asarray(subjects)) if n_subjects else None,
        },
        sort_keys=True,
    )
    return loop.decoder_loop(
        fresh,
        train_epoch,
        lambda model: loop.validation_sums(model, xt, yt, val_rows, cfg.batch_size, subj),
        validation.size,
        cfg,
        checkpoint,
        identity,
        on_epoch_end,
    )


def load_network(
    weights: dict[str, np.ndarray],
    n_times: int,
    n_out: int,
    cfg: SimpleConvConfig,
    device: torch.device,
) -> SimpleConvTimeAgg:
    """The trained network (eval mode) from :func:`train_simple_conv`'s weights (the sensor
    positions and the subject layer's size are read from them)."""
    positions = torch.from_numpy(np.asarray(weights["positions"]))
    n_subjects = int(weights["subject_layers.weight"].shape[0]) if cfg.subject_layers else 0
    model = SimpleConvTimeAgg(positions, n_times, n_out, cfg, n_subjects)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
    return model.to(device).eval()


@torch.no_grad()
def embed(
    model: SimpleConvTimeAgg,
    x: np.ndarray,
    batch_size: int = 256,
    subjects: np.ndarray | None = None,
) -> np.ndarray:
    """(trials, n_out) float32 predicted embeddings of windows ``x``, in batches (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(x), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size])).to(device)
        subj = None
        if subjects is not None:
            part = np.asarray(subjects[start : start + batch_size], dtype=np.int64)
            subj = torch.from_numpy(part).to(device)
        out.append(model(batch, None, subj).cpu().numpy())
    if not out:
        return np.empty((0, model.head.out_features), dtype=np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def simple_conv_device(cfg: SimpleConvConfig) -> torch.device:
    """``cfg.device`` resolved as the other decoders resolve theirs (errors name this section)."""
    return resolve_device(cfg.device, cfg.SECTION)
