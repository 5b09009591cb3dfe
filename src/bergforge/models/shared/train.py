"""Training the ``shared`` network: the ``mlp`` kind's epoch loop over every subject's images.

A sample is one subject × one of its training images. Every epoch permutes all fitted samples
with ``np.random.default_rng([seed, 1, epoch])`` and cuts the order into batches of
``batch_size``; within a batch the samples are grouped by subject (stable), the trunk runs once on
the batch's images and each subject's adapter on its own rows. The loss is the mean over the
batch's samples of each sample's mean squared error over its subject's (standardised) targets, so
every sample weighs the same whatever its subject's number of targets. Dropout masks come from
``[seed, 2, epoch]``; the validation loss is the same mean over the held-out samples.
Early stopping, the best epoch, the per-epoch atomic checkpoint and resuming are
:func:`bergforge.models.mlp.train.train_loop`'s.

The batch plan (which rows, which subject) is made on the host once per epoch and its two index
vectors go to the device in one copy; nothing is read back within an epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bergforge.models.mlp.settings import MlpConfig
from bergforge.models.mlp.train import (
    EVAL_BATCH,
    ORDER_STREAM,
    Trained,
    dropout_generator,
    train_loop,
)
from bergforge.models.shared.network import SharedNet, build_shared


@dataclass(frozen=True)
class Samples:
    """Fitted (or held-out) samples: the subject (position in the adapters), the row of the input
    matrix and the row of that subject's targets of each."""

    subject: np.ndarray
    input_row: np.ndarray
    target_row: np.ndarray

    @classmethod
    def of(cls, parts: list[tuple[np.ndarray, np.ndarray]]) -> Samples:
        """From per subject (input rows, target rows)."""
        return cls(
            np.concatenate([np.full(len(t), j, np.int64) for j, (_, t) in enumerate(parts)]),
            np.concatenate([np.asarray(i, np.int64) for i, _ in parts]),
            np.concatenate([np.asarray(t, np.int64) for _, t in parts]),
        )


@dataclass(frozen=True)
class BatchPlan:
    """An epoch's order (input and target rows, on the device) and its batches: (start, stop,
    [(subject, start, stop), …]) with the subjects' runs inside the batch."""

    input_rows: torch.Tensor
    target_rows: torch.Tensor
    batches: list[tuple[int, int, list[tuple[int, int, int]]]]


def segments(subjects: np.ndarray, start: int) -> list[tuple[int, int, int]]:
    """(subject, start, stop) of each run of equal subjects (``subjects`` sorted), offset by
    ``start``."""
    cuts = np.flatnonzero(np.diff(subjects)) + 1
    bounds = np.concatenate([[0], cuts, [subjects.size]])
    return [
        (int(subjects[a]), start + int(a), start + int(b))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def epoch_plan(
    samples: Samples, seed: int, epoch: int, batch_size: int, device: torch.device
) -> BatchPlan:
    """The epoch's permuted samples cut into batches, each grouped by subject (module docstring)."""
    order = np.random.default_rng([seed, ORDER_STREAM, epoch]).permutation(samples.subject.size)
    batches = []
    for start in range(0, order.size, batch_size):
        part = order[start : start + batch_size]
        part = part[np.argsort(samples.subject[part], kind="stable")]
        order[start : start + batch_size] = part
        batches.append((start, start + part.size, segments(samples.subject[part], start)))
    rows = np.stack([samples.input_row[order], samples.target_row[order]])
    on_device = torch.from_numpy(rows).to(device)
    return BatchPlan(on_device[0], on_device[1], batches)


def batch_loss(
    model: SharedNet,
    x: torch.Tensor,
    ys: list[torch.Tensor],
    plan: BatchPlan,
    batch: tuple[int, int, list[tuple[int, int, int]]],
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Sum over the batch's samples of their mean squared error (a tensor on the device)."""
    start, stop, runs = batch
    h = model.trunk(x[plan.input_rows[start:stop]], generator)
    total = torch.zeros((), device=x.device)
    for subject, a, b in runs:
        pred = model.adapters[subject](h[a - start : b - start])
        total = total + ((pred - ys[subject][plan.target_rows[a:b]]) ** 2).mean(dim=1).sum()
    return total


def run_epoch(
    model: SharedNet,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    ys: list[torch.Tensor],
    plan: BatchPlan,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One pass over the plan; the mean training loss per sample as a tensor on the device."""
    model.train()
    total = torch.zeros((), device=x.device)
    for batch in plan.batches:
        loss = batch_loss(model, x, ys, plan, batch, generator) / (batch[1] - batch[0])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * (batch[1] - batch[0])
    return total / plan.input_rows.shape[0]


@torch.no_grad()
def validation_loss(
    model: SharedNet, x: torch.Tensor, ys: list[torch.Tensor], plan: BatchPlan
) -> torch.Tensor:
    """Mean over the held-out samples of their mean squared error (eval mode, on the device)."""
    model.eval()
    total = torch.zeros((), device=x.device)
    for batch in plan.batches:
        total += batch_loss(model, x, ys, plan, batch, None)
    return total / plan.input_rows.shape[0]


def train_shared_network(
    x: np.ndarray,
    ys: list[np.ndarray],
    fit: Samples,
    validation: Samples,
    cfg: MlpConfig,
    device: torch.device,
    checkpoint: Path,
    data_id: str,
    on_epoch_end: Callable[[int, float, SharedNet], None] | None = None,
) -> Trained:
    """Train (or resume) on standardised float32 inputs ``x`` (union images × inputs) and each
    subject's standardised targets ``ys``; return the best epoch's weights (parameter names of
    :class:`SharedNet`)."""
    if validation.subject.size == 0:
        raise ValueError("no held-out samples")
    xt = torch.from_numpy(x).to(device)
    yts = [torch.from_numpy(y).to(device) for y in ys]
    batch = min(cfg.batch_size, fit.subject.size)
    held_out = epoch_plan(validation, cfg.seed, 0, EVAL_BATCH, device)
    n_outs = [y.shape[1] for y in ys]

    def fresh() -> tuple[SharedNet, torch.optim.Optimizer]:
        model = build_shared(x.shape[1], n_outs, cfg.hidden, cfg.depth, cfg.dropout, cfg.seed)
        model = model.to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return model, optimizer

    def train_epoch(model: SharedNet, optimizer: torch.optim.Optimizer, epoch: int) -> torch.Tensor:
        plan = epoch_plan(fit, cfg.seed, epoch, batch, device)
        generator = dropout_generator(cfg.seed, epoch, device)
        return run_epoch(model, optimizer, xt, yts, plan, generator)

    return train_loop(
        fresh,
        train_epoch,
        lambda model: validation_loss(model, xt, yts, held_out),
        cfg,
        device,
        checkpoint,
        data_id,
        on_epoch_end,
    )
