"""Training of the multi-head CNN8 encoder with the MOSAIC recipe, resumable from per-epoch checkpoints.

Recipe: Adam (lr 1e-4, weight decay 1e-4), MSE, batches of 64 drawn at random across subjects,
ReduceLROnPlateau on the validation loss (factor 0.3, patience 6), early stopping (patience 7,
min delta 0.002) on a seeded 90/10 train/validation split per subject, at most 100 epochs; the
weights of the best validation epoch are kept. Every random draw derives from ``seed`` (the
epoch's batch order from ``(seed, epoch)``), so a job killed after epoch k and restarted from its
checkpoint reaches exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from bergforge.atomic import atomic_file
from bergforge.errors import DataError
from bergforge.models.cnn8.network import MultiHeadEncoder
from bergforge.models.cnn8.settings import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class SubjectData:
    """One subject's training set: images (N, 3, S, S) float32, responses (N, V) float32.

    ``images`` is a tensor or anything indexed the same way (``shape``, rows → tensor), such as
    :class:`bergforge.models.cnn8.streaming.StimulusImages`, which decodes only the rows asked for.
    """

    images: torch.Tensor
    responses: torch.Tensor


def _validate(data: dict[str, SubjectData], cfg: TrainConfig) -> None:
    if not data:
        raise DataError("no subjects to train on")
    for name, d in data.items():
        shape = tuple(d.images.shape)
        if len(shape) != 4 or shape[1] != 3 or shape[2:] != (cfg.input_size, cfg.input_size):
            raise DataError(
                f"{name}: expected images (N, 3, {cfg.input_size}, {cfg.input_size}), got {shape}"
            )
        if d.responses.ndim != 2 or d.responses.shape[0] != shape[0]:
            raise DataError(
                f"{name}: expected responses (N={shape[0]}, vertices), got {tuple(d.responses.shape)}"
            )
        if not all(
            torch.isfinite(d.responses[s : s + 1024]).all() for s in range(0, shape[0], 1024)
        ):  # in blocks: responses may be memory-mapped
            raise DataError(f"{name}: responses contain NaN or inf")
        if shape[0] < 2:
            raise DataError(f"{name}: need at least 2 images for a train/validation split")


def split_indices(
    n: int, val_fraction: float, seed: int, subject_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, validation) indices of one subject's n images."""
    order = np.random.default_rng([seed, subject_index]).permutation(n)
    n_val = max(1, int(round(n * val_fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def epoch_batches(
    train_idx: dict[str, np.ndarray], batch_size: int, seed: int, epoch: int
) -> list[list[tuple[str, np.ndarray]]]:
    """Batches of (subject, rows) pairs, drawn at random across subjects, fixed by (seed, epoch)."""
    names = sorted(train_idx)
    pairs = np.concatenate(
        [np.stack([np.full(train_idx[n].size, i), train_idx[n]], 1) for i, n in enumerate(names)]
    )
    pairs = pairs[np.random.default_rng([seed, 1_000_003, epoch]).permutation(len(pairs))]
    batches = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batches.append([(names[i], chunk[chunk[:, 0] == i, 1]) for i in np.unique(chunk[:, 0])])
    return batches


def _batch_loss(model, data, batch, device, readout_l1) -> tuple[torch.Tensor, int]:
    """Sum over the batch of per-image MSE (mean over that subject's vertices), and batch size."""
    images = torch.cat([data[name].images[rows] for name, rows in batch]).to(device)
    feats = model.core(images)
    total, start = torch.zeros((), device=device), 0
    for name, rows in batch:
        pred = model.readouts[name](feats[start : start + rows.size])
        target = data[name].responses[rows].to(device)
        total = total + ((pred - target) ** 2).mean(1).sum()
        if readout_l1:
            total = total + readout_l1 * model.readouts[name].regularizer() * rows.size / len(batch)
        start += rows.size
    return total, start


@torch.no_grad()
def validation_loss(model, data, val_idx, device, batch_size) -> float:
    """Mean per-image MSE over all subjects' validation images (eval mode)."""
    model.eval()
    total, count = 0.0, 0
    for name, rows in val_idx.items():
        for start in range(0, rows.size, batch_size):
            r = rows[start : start + batch_size]
            pred = model(data[name].images[r].to(device), name)
            total += float(((pred - data[name].responses[r].to(device)) ** 2).mean(1).sum())
            count += r.size
    return total / count


def save_torch_atomic(obj: dict, path: Path) -> None:
    """``torch.save`` through :func:`bergforge.atomic.atomic_file` (removed if it fails).

    ``torch.save`` names the folder inside its zip after the file it writes (here the fixed
    ``.<name>.partial``, so the folder is ``.<name>``): the bytes depend on that name.
    """
    with atomic_file(path) as tmp:
        torch.save(obj, tmp)


def _hyperparameters(config: dict) -> dict:
    """A training config without ``device``: a run may resume on another device."""
    return {k: v for k, v in config.items() if k != "device"}


def train_multihead(
    data: dict[str, SubjectData],
    cfg: TrainConfig,
    checkpoint: Path,
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> tuple[MultiHeadEncoder, dict]:
    """Train (or resume from ``checkpoint``) and return the best model and its history."""
    _validate(data, cfg)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = MultiHeadEncoder(
        {n: d.responses.shape[1] for n, d in sorted(data.items())}, cfg.width, cfg.input_size
    ).to(device)
    for name, d in data.items():  # bias starts at the mean response, as MOSAIC allows
        model.readouts[name].bias.data.copy_(d.responses.mean(0).to(device))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=cfg.plateau_factor, patience=cfg.plateau_patience
    )
    splits = {
        n: split_indices(d.images.shape[0], cfg.val_fraction, cfg.seed, i)
        for i, (n, d) in enumerate(sorted(data.items()))
    }
    train_idx = {n: s[0] for n, s in splits.items()}
    val_idx = {n: s[1] for n, s in splits.items()}
    state = {
        "epoch": 0,
        "best_loss": float("inf"),
        "best_state": None,
        "bad_epochs": 0,
        "history": [],
    }
    checkpoint = Path(checkpoint)
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        if _hyperparameters(saved["config"]) != _hyperparameters(asdict(cfg)):
            raise DataError(
                f"{checkpoint}: checkpoint was written with another configuration; delete it to restart"
            )
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        state = saved["state"]
        log.info("resumed from %s after epoch %d", checkpoint, state["epoch"])
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    while state["epoch"] < cfg.max_epochs and state["bad_epochs"] < cfg.early_stop_patience:
        epoch = state["epoch"]
        model.train()
        for batch in epoch_batches(train_idx, cfg.batch_size, cfg.seed, epoch):
            opt.zero_grad()
            loss, n = _batch_loss(model, data, batch, device, cfg.readout_l1)
            (loss / n).backward()
            opt.step()
        val = validation_loss(model, data, val_idx, device, cfg.batch_size)
        sched.step(val)
        if val < state["best_loss"] - cfg.early_stop_delta:
            state["best_loss"], state["bad_epochs"] = val, 0
            state["best_state"] = copy.deepcopy(model.state_dict())
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        state["history"].append(
            {"epoch": epoch + 1, "val_loss": val, "lr": opt.param_groups[0]["lr"]}
        )
        log.info("epoch %d: validation loss %.4f", epoch + 1, val)
        save_torch_atomic(
            {
                "config": asdict(cfg),
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "state": state,
            },
            checkpoint,
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, val)
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.eval()
    return model, {
        "history": state["history"],
        "best_val_loss": state["best_loss"],
        "epochs": state["epoch"],
    }


@torch.no_grad()
def predict(
    model: MultiHeadEncoder, images: torch.Tensor, subject: str, batch_size: int = 64
) -> np.ndarray:
    """(N, vertices) predictions of one subject's head, in eval mode (images read per batch)."""
    model.eval()
    device = next(model.parameters()).device
    outs = [
        model(images[s : s + batch_size].to(device), subject).cpu()
        for s in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(outs).numpy()
