"""Training one ``fmri_mlp`` decoder: CLIP loss, AdamW + OneCycleLR, early stopping on the
validation in-batch top-5, resumable per epoch (research note decoding.md §1.7–§1.9).

AdamW (lr, weight decay) with OneCycleLR (max_lr = lr, ``pct_start``, cosine; PyTorch's default
momentum cycling of AdamW's beta1 between 0.85 and 0.95), stepped after every batch over
``max_epochs`` × batches-per-epoch steps; gradients clipped to a total L2 norm of ``grad_clip``.
Every epoch draws its batch order from ``[seed, 1, epoch]`` and its dropout masks from
``[seed, 2, epoch]`` (the ``mlp`` kind's streams and helpers). After an epoch the validation rows
are cut in order into batches of ``batch_size``; each row's true image is ranked among its batch's
targets, and the epoch's top-5 accuracy (over all validation rows) is the monitor: an epoch is
the best so far when its top-5 is strictly above the best one's. Training stops after
``max_epochs`` or ``patience`` epochs in a row without a better one; the best epoch's weights are
returned. After every epoch one safetensors checkpoint is written atomically (the ``mlp`` kind's
writer: network, AdamW's moments and step counts, the best weights; the loop's state, the
scheduler's state and the optimizer's scheduled lr/betas in its metadata): a run killed after
epoch k resumes from it to exactly the weights of an uninterrupted run (on the CPU, same threads).

Within an epoch nothing is read back to the host: losses and rank counts are summed on the
device and read once per epoch.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bergforge.errors import ConfigError, DataError
from bergforge.models.decoding.loss import clip_loss, metrics_of_sums, rank_sums, true_ranks
from bergforge.models.decoding.network import FmriMlp, build
from bergforge.models.decoding.settings import DecoderConfig
from bergforge.models.mlp.train import (
    dropout_generator,
    epoch_order,
    fingerprint,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)

log = logging.getLogger(__name__)

Scheduler = torch.optim.lr_scheduler.OneCycleLR


@dataclass
class DecoderTrained:
    """The kept (best) weights as NumPy arrays and the training's record."""

    weights: dict[str, np.ndarray]
    best_epoch: int
    best_val_top5: float
    epochs: int
    history: list[dict[str, float]]


def one_cycle(optimizer: torch.optim.Optimizer, cfg: DecoderConfig, total_steps: int) -> Scheduler:
    """OneCycleLR over ``total_steps`` batches (max_lr = cfg.lr, cosine)."""
    if cfg.pct_start * total_steps <= 1:
        raise ConfigError(
            f"{cfg.SECTION}: OneCycleLR with pct_start {cfg.pct_start} needs more than "
            f"{1 / cfg.pct_start:g} optimizer steps, got {total_steps} (max_epochs × batches per "
            "epoch); expected more epochs or training rows"
        )
    return Scheduler(
        optimizer,
        max_lr=cfg.lr,
        total_steps=total_steps,
        pct_start=cfg.pct_start,
        anneal_strategy="cos",
    )


def run_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Scheduler,
    x: torch.Tensor,
    y: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None,
    grad_clip: float,
    subjects: torch.Tensor | None = None,
) -> torch.Tensor:
    """One pass over the rows in ``order`` (a step of optimizer and scheduler per batch); the
    mean training loss over the rows, a tensor on the device (nothing read back here). Each
    batch's inputs are gathered into one buffer reused through the epoch (no new allocation of
    a batch of windows per step). ``subjects`` (one index per row, on the device), when given,
    are passed to the network as ``model(batch, generator, subjects[rows])``."""
    model.train()
    total = torch.zeros((), device=x.device)
    inputs = x.new_empty((batch_size, *x.shape[1:]))  # one gather buffer for the epoch
    for start in range(0, order.shape[0], batch_size):
        rows = order[start : start + batch_size]
        batch = torch.index_select(x, 0, rows, out=inputs[: rows.shape[0]])
        out = (
            model(batch, generator) if subjects is None else model(batch, generator, subjects[rows])
        )
        loss = clip_loss(out, y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        total += loss.detach() * rows.shape[0]
    return total / order.shape[0]


@torch.no_grad()
def validation_sums(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    rows: torch.Tensor,
    batch_size: int,
    subjects: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`rank_sums` over the validation ``rows``, ranked within consecutive batches of
    ``batch_size`` (eval mode), a tensor on the device (``subjects``: as :func:`run_epoch`)."""
    model.eval()
    total = torch.zeros(4, dtype=torch.float64, device=x.device)
    inputs = x.new_empty((min(batch_size, rows.shape[0]), *x.shape[1:]))
    for start in range(0, rows.shape[0], batch_size):
        part = rows[start : start + batch_size]
        batch = torch.index_select(x, 0, part, out=inputs[: part.shape[0]])
        out = model(batch) if subjects is None else model(batch, None, subjects[part])
        total += rank_sums(true_ranks(out, y[part]))
    return total


def is_float32(a: Any) -> bool:
    """Whether a numpy array or torch tensor holds float32."""
    return str(a.dtype).removeprefix("torch.") == "float32"


def on_device(x: Any, device: torch.device) -> torch.Tensor:
    """``x`` (a numpy array, shared, or a tensor already filled on its device) on ``device``."""
    return x.to(device) if isinstance(x, torch.Tensor) else torch.from_numpy(x).to(device)


def check_inputs(
    x: np.ndarray,
    y: np.ndarray,
    fit: np.ndarray,
    validation: np.ndarray,
    cfg: DecoderConfig,
    subjects: np.ndarray | None = None,
) -> None:
    """One clear error for inputs the decoder cannot train on."""
    if x.ndim != 3 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DataError(
            "fmri_mlp: expected inputs (samples, features, TRs) and targets (samples, dims) with "
            f"as many samples, got {x.shape} and {y.shape}"
        )
    if x.shape[2] != cfg.n_trs:
        raise DataError(f"fmri_mlp: expected {cfg.n_trs} TRs, got {x.shape[2]}")
    if not (is_float32(x) and is_float32(y)):
        raise DataError(f"fmri_mlp: expected float32 inputs and targets, got {x.dtype}, {y.dtype}")
    for name, rows in (("fitted", fit), ("validation", validation)):
        rows = np.asarray(rows)
        if rows.size == 0 or rows.min() < 0 or rows.max() >= x.shape[0]:
            raise DataError(
                f"fmri_mlp: expected a non-empty set of {name} rows within 0…{x.shape[0] - 1}"
            )
    if cfg.subject_layers:
        if subjects is None or np.shape(subjects) != (x.shape[0],):
            raise DataError("fmri_mlp: subject_layers needs one subject index per sample")
        if not np.issubdtype(np.asarray(subjects).dtype, np.integer) or np.min(subjects) < 0:
            raise DataError("fmri_mlp: expected integer subject indices ≥ 0")


def train_decoder(
    x: np.ndarray,
    y: np.ndarray,
    fit: np.ndarray,
    validation: np.ndarray,
    cfg: DecoderConfig,
    device: torch.device,
    checkpoint: Path,
    data_id: str,
    on_epoch_end: Callable[[int, dict[str, float], FmriMlp], None] | None = None,
    subjects: np.ndarray | None = None,
) -> DecoderTrained:
    """Train (or resume from ``checkpoint``) on float32 windows ``x`` (samples, features, TRs)
    and image embeddings ``y`` (samples, dims), fitting rows ``fit`` and early-stopping on rows
    ``validation``; return the best epoch's weights. ``data_id`` identifies ``x`` and ``y`` (e.g.
    :func:`bergforge.models.mlp.train.fingerprint`; the rows are added here). With
    ``cfg.subject_layers``, ``subjects`` gives each sample's subject index (0, 1, …): the
    network gets one subject layer per index up to the largest, and each sample goes through
    its own subject's (ignored without the setting).
    ``on_epoch_end(epoch, record, model)`` runs after each epoch's checkpoint (a test hook:
    raising there stops training as a killed job would). The checkpoint stays after the last
    epoch (a rerun returns at once); the caller removes it once it has written the result."""
    check_inputs(x, y, fit, validation, cfg, subjects)
    xt, yt = on_device(x, device), torch.from_numpy(y).to(device)
    n_subjects = int(np.max(subjects)) + 1 if cfg.subject_layers else 0
    subj = None
    if n_subjects:
        subj = torch.from_numpy(np.asarray(subjects, dtype=np.int64)).to(device)
    fit = np.asarray(fit, dtype=np.int64)
    validation = np.asarray(validation, dtype=np.int64)
    fit_rows, val_rows = torch.from_numpy(fit).to(device), torch.from_numpy(validation).to(device)
    batch = min(cfg.batch_size, fit.size)
    total_steps = cfg.max_epochs * math.ceil(fit.size / batch)

    def fresh() -> tuple[FmriMlp, torch.optim.Optimizer, Scheduler]:
        model = build(x.shape[1], y.shape[1], cfg, n_subjects).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return model, optimizer, one_cycle(optimizer, cfg, total_steps)

    def train_epoch(model, optimizer, scheduler, epoch: int) -> torch.Tensor:
        order = epoch_order(fit_rows, cfg.seed, epoch)
        generator = dropout_generator(cfg.seed, epoch, device)
        return run_epoch(
            model, optimizer, scheduler, xt, yt, order, batch, generator, cfg.grad_clip, subj
        )

    ids = {
        "hyperparameters": cfg.hyperparameters(),
        "data": data_id,
        "rows": fingerprint(fit, validation),
    }
    if n_subjects:
        ids["subjects"] = fingerprint(np.asarray(subjects, dtype=np.int64))
    identity = json.dumps(ids, sort_keys=True)
    return decoder_loop(
        fresh,
        train_epoch,
        lambda model: validation_sums(model, xt, yt, val_rows, cfg.batch_size, subj),
        validation.size,
        cfg,
        checkpoint,
        identity,
        on_epoch_end,
    )


def decoder_loop(
    fresh: Callable[[], tuple[torch.nn.Module, torch.optim.Optimizer, Scheduler]],
    train_epoch: Callable[[torch.nn.Module, torch.optim.Optimizer, Scheduler, int], torch.Tensor],
    validate: Callable[[torch.nn.Module], torch.Tensor],
    n_validation: int,
    cfg: DecoderConfig,
    checkpoint: Path,
    identity: str,
    on_epoch_end: Callable[[int, dict[str, float], torch.nn.Module], None] | None = None,
) -> DecoderTrained:
    """The epoch loop (module docstring): resume, train, validate, keep the best, checkpoint.
    Any decoder network: ``cfg`` needs ``max_epochs``, ``patience`` and ``SECTION`` (whose last
    part names the decoder in errors); ``SimpleConvTimeAgg`` trains through it too."""
    model, optimizer, scheduler = fresh()
    state: dict[str, Any] = {
        "epoch": 0,
        "best_epoch": 0,
        "best_val_top5": -1.0,  # below any accuracy: the first epoch is the best so far
        "bad_epochs": 0,
        "history": [],
    }
    best: dict[str, torch.Tensor] = {}
    checkpoint = Path(checkpoint)
    if checkpoint.is_file():
        device = next(model.parameters()).device
        resumed = load_checkpoint(checkpoint, identity, model, optimizer, device)
        if resumed is not None:
            state, best = resumed
            restore_schedule(optimizer, scheduler, state)
            log.info("resumed from %s after epoch %d", checkpoint, state["epoch"])
        else:  # nothing of it is kept, not even a partly loaded network
            model, optimizer, scheduler = fresh()
    while state["epoch"] < cfg.max_epochs and state["bad_epochs"] < cfg.patience:
        epoch = state["epoch"]
        train_loss = train_epoch(model, optimizer, scheduler, epoch)
        sums = validate(model)
        values = torch.cat([train_loss.reshape(1).to(sums.dtype), sums]).tolist()  # one read
        if not np.isfinite(values).all():
            raise DataError(
                f"{cfg.SECTION.split('.')[-1]} training diverged in epoch {epoch + 1} "
                f"(training loss {values[0]}); "
                f"expected finite losses (lower {cfg.SECTION}.lr)"
            )
        val = metrics_of_sums(values[1:], n_validation)
        record = {
            "epoch": epoch + 1,
            "train_loss": values[0],
            **{f"val_{k}": v for k, v in val.items()},
            "lr": scheduler.get_last_lr()[0],
        }
        if val["top5"] > state["best_val_top5"]:
            state.update(best_val_top5=val["top5"], best_epoch=epoch + 1, bad_epochs=0)
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        state["history"].append(record)
        log.info(
            "epoch %d/%d: training loss %.5f, validation top-5 %.4f (best %.4f, epoch %d), lr %.3g",
            epoch + 1,
            cfg.max_epochs,
            record["train_loss"],
            val["top5"],
            state["best_val_top5"],
            state["best_epoch"],
            record["lr"],
        )
        state["scheduler"] = scheduler.state_dict()
        state["groups"] = [
            {k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups
        ]
        save_checkpoint(checkpoint, identity, model, optimizer, best, state)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record, model)
    reason = "patience" if state["bad_epochs"] >= cfg.patience else "max_epochs"
    log.info(
        "stopped after epoch %d (%s); kept epoch %d (validation top-5 %.4f)",
        state["epoch"],
        reason,
        state["best_epoch"],
        state["best_val_top5"],
    )
    return DecoderTrained(
        {k: v.detach().cpu().numpy() for k, v in best.items()},
        int(state["best_epoch"]),
        float(state["best_val_top5"]),
        int(state["epoch"]),
        list(state["history"]),
    )


def restore_schedule(
    optimizer: torch.optim.Optimizer, scheduler: Scheduler, state: dict[str, Any]
) -> None:
    """The scheduler's position and the lr/betas it last set on the optimizer, from a resumed
    checkpoint's state (the optimizer's own state was loaded with fresh hyperparameters)."""
    scheduler.load_state_dict(state["scheduler"])
    for group, saved in zip(optimizer.param_groups, state["groups"], strict=True):
        group.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def decoder_device(cfg: DecoderConfig) -> torch.device:
    """``cfg.device`` resolved as the ``mlp`` kind resolves its own (errors name this section)."""
    return resolve_device(cfg.device, cfg.SECTION)
