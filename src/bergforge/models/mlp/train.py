"""Training one MLP: AdamW, MSE on standardised targets, early stopping, resumable per epoch.

Every epoch draws its batch order from ``[seed, 1, epoch]`` and its dropout masks from a
generator seeded with ``[seed, 2, epoch]``; after it, the validation loss (mean squared error of
the held-out images) decides whether it is the best epoch so far, and a checkpoint (the network,
AdamW's moments and step counts, the best epoch's weights and the loop's state) is written
atomically. Training stops after ``max_epochs`` or when ``patience`` epochs in a row did not
improve the best validation loss by more than ``min_delta``; the best epoch's weights are kept.
A job killed after epoch k starts again from its checkpoint and reaches exactly the weights of an
uninterrupted run (on the CPU, with the same thread count). A checkpoint written for other
settings or data is set aside (logged) and training starts afresh.

Data and network live on the chosen device; within an epoch nothing is read back to the host
(the batch order is put on the device once per epoch, the losses are summed there); the epoch's
two losses are read once, for the log and early stopping.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from bergforge.atomic import atomic_file
from bergforge.errors import ConfigError, DataError
from bergforge.models.mlp.network import MLP, build
from bergforge.models.mlp.settings import MlpConfig

log = logging.getLogger(__name__)

#: random streams after the seed: batch order, dropout masks
ORDER_STREAM, DROPOUT_STREAM = 1, 2
#: validation rows per forward pass
EVAL_BATCH = 1024
#: safetensors metadata keys of a checkpoint
STATE_KEY, IDENTITY_KEY = "state", "identity"


def resolve_device(setting: str, section: str = "models.mlp") -> torch.device:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is an error
    (naming the config ``section`` whose ``device`` asked for it)."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{section}.device is 'cuda' but torch sees no CUDA device; expected a visible GPU "
            "(or device: auto / cpu)"
        )
    if setting not in ("cpu", "cuda"):
        raise ConfigError(f"{section}.device = {setting!r}; expected auto, cpu or cuda")
    return torch.device(setting)


def start_job(request: Any, device: torch.device, setting: str, logger: logging.Logger) -> int:
    """Log a training job's runtime (threads, the device used and asked for, ``mem_mb``) as one
    line and set torch's thread count; returns the threads (``request``: its FitRequest)."""
    from bergforge.logs import log_runtime

    threads = max(1, int(request.threads))
    log_runtime(
        {
            "threads": threads,
            "device": str(device),
            "device_setting": setting,
            **{k: request.runtime[k] for k in ("mem_mb",) if k in request.runtime},
        },
        logger,
    )
    torch.set_num_threads(threads)
    return threads


def epoch_order(rows: torch.Tensor, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's batch order: ``rows`` (the fitted rows, on the device) permuted."""
    order = np.random.default_rng([seed, ORDER_STREAM, epoch]).permutation(rows.shape[0])
    return rows[torch.from_numpy(order).to(rows.device)]


def dropout_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The epoch's generator of dropout masks, on ``device``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(
        int(np.random.SeedSequence([seed, DROPOUT_STREAM, epoch]).generate_state(1)[0])
    )
    return generator


def run_epoch(
    model: MLP,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One pass over the rows in ``order``; the mean training loss as a tensor on the device
    (nothing is read back to the host here)."""
    model.train()
    total = torch.zeros((), device=x.device)
    for start in range(0, order.shape[0], batch_size):
        rows = order[start : start + batch_size]
        loss = functional.mse_loss(model(x[rows], generator), y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * rows.shape[0]
    return total / order.shape[0]


@torch.no_grad()
def validation_loss(
    model: MLP, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor
) -> torch.Tensor:
    """Mean squared error over the validation ``rows`` (eval mode), a tensor on the device."""
    model.eval()
    total = torch.zeros((), device=x.device)
    for start in range(0, rows.shape[0], EVAL_BATCH):
        part = rows[start : start + EVAL_BATCH]
        total += ((model(x[part]) - y[part]) ** 2).sum()
    return total / (rows.shape[0] * y.shape[1])


@dataclass
class Trained:
    """The kept (best) weights as NumPy arrays and the training's record."""

    weights: dict[str, np.ndarray]
    best_epoch: int
    best_validation_loss: float
    epochs: int
    history: list[dict[str, float]]


def fingerprint(*arrays: np.ndarray, start: Any = None) -> str:
    """SHA-256 of the arrays' shapes and bytes: which data a checkpoint belongs to (``start``: a
    digest of earlier arrays to continue, e.g. one filled block by block)."""
    digest = hashlib.sha256() if start is None else start
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.data)
    return digest.hexdigest()


def train_network(
    x: np.ndarray,
    y: np.ndarray,
    fit: np.ndarray,
    validation: np.ndarray,
    cfg: MlpConfig,
    device: torch.device,
    checkpoint: Path,
    data_id: str,
    on_epoch_end: Callable[[int, float, MLP], None] | None = None,
) -> Trained:
    """Train (or resume from ``checkpoint``) on standardised float32 inputs ``x`` and targets
    ``y`` (rows: images), fitting rows ``fit`` and early-stopping on rows ``validation``; return
    the best epoch's weights. The arrays go to the device as they are (on the CPU: not copied).

    ``data_id`` identifies the data (:func:`fingerprint`); ``on_epoch_end(epoch, val_loss,
    model)`` is called after each epoch's checkpoint (a test hook: raising there stops training
    as a killed job would)."""
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    fit_rows = torch.from_numpy(np.asarray(fit, dtype=np.int64)).to(device)
    val_rows = torch.from_numpy(np.asarray(validation, dtype=np.int64)).to(device)
    batch = min(cfg.batch_size, len(fit))

    def train_epoch(model: MLP, optimizer: torch.optim.Optimizer, epoch: int) -> torch.Tensor:
        order = epoch_order(fit_rows, cfg.seed, epoch)
        generator = dropout_generator(cfg.seed, epoch, device)
        return run_epoch(model, optimizer, xt, yt, order, batch, generator)

    return train_loop(
        lambda: _fresh(x.shape[1], y.shape[1], cfg, device),
        train_epoch,
        lambda model: validation_loss(model, xt, yt, val_rows),
        cfg,
        device,
        checkpoint,
        data_id,
        on_epoch_end,
    )


def train_loop(
    fresh: Callable[[], tuple[torch.nn.Module, torch.optim.Optimizer]],
    train_epoch: Callable[[Any, torch.optim.Optimizer, int], torch.Tensor],
    validate: Callable[[Any], torch.Tensor],
    cfg: MlpConfig,
    device: torch.device,
    checkpoint: Path,
    data_id: str,
    on_epoch_end: Callable[[int, float, Any], None] | None = None,
) -> Trained:
    """The epoch loop of every trained kind built on these settings (module docstring):
    ``fresh()`` makes the seeded network and its optimizer, ``train_epoch(model, optimizer,
    epoch)`` runs one epoch and returns its mean training loss, ``validate(model)`` the
    validation loss (both tensors on the device, read once per epoch here). Resumes from
    ``checkpoint`` when it belongs to the same settings (``cfg.hyperparameters()``) and data
    (``data_id``); writes it after every epoch; returns the best epoch's weights."""
    model, optimizer = fresh()
    identity = json.dumps(
        {"hyperparameters": cfg.hyperparameters(), "data": data_id}, sort_keys=True
    )
    state: dict[str, Any] = {
        "epoch": 0,
        "best_epoch": 0,
        "best_loss": float("inf"),
        "bad_epochs": 0,
        "history": [],
    }
    best: dict[str, torch.Tensor] = {}
    checkpoint = Path(checkpoint)
    if checkpoint.is_file():
        resumed = load_checkpoint(checkpoint, identity, model, optimizer, device)
        if resumed is not None:
            state, best = resumed
            log.info("resumed from %s after epoch %d", checkpoint, state["epoch"])
        else:  # nothing of it is kept, not even a partly loaded network
            model, optimizer = fresh()
    while state["epoch"] < cfg.max_epochs and state["bad_epochs"] < cfg.patience:
        epoch = state["epoch"]
        train_loss = train_epoch(model, optimizer, epoch)
        val_loss = validate(model)
        train_value, val_value = float(train_loss), float(val_loss)  # the epoch's one read-back
        if not (np.isfinite(train_value) and np.isfinite(val_value)):
            raise DataError(
                f"{cfg.SECTION.split('.')[-1]} training diverged in epoch {epoch + 1} (training "
                f"loss {train_value}, "
                f"validation loss {val_value}); expected finite losses (lower {cfg.SECTION}.lr)"
            )
        if val_value < state["best_loss"] - cfg.min_delta:
            state.update(best_loss=val_value, best_epoch=epoch + 1, bad_epochs=0)
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        state["history"].append(
            {"epoch": epoch + 1, "train_loss": train_value, "validation_loss": val_value}
        )
        log.info(
            "epoch %d/%d: training loss %.5f, validation loss %.5f (best %.5f, epoch %d)",
            epoch + 1,
            cfg.max_epochs,
            train_value,
            val_value,
            state["best_loss"],
            state["best_epoch"],
        )
        save_checkpoint(checkpoint, identity, model, optimizer, best, state)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, val_value, model)
    reason = "patience" if state["bad_epochs"] >= cfg.patience else "max_epochs"
    log.info(
        "stopped after epoch %d (%s); kept epoch %d (validation loss %.5f)",
        state["epoch"],
        reason,
        state["best_epoch"],
        state["best_loss"],
    )
    return Trained(
        {k: v.detach().cpu().numpy() for k, v in best.items()},
        int(state["best_epoch"]),
        float(state["best_loss"]),
        int(state["epoch"]),
        list(state["history"]),
    )


def _fresh(n_in: int, n_out: int, cfg: MlpConfig, device: torch.device):
    """A newly initialised network on ``device`` and its AdamW optimizer."""
    model = build(n_in, n_out, cfg.hidden, cfg.depth, cfg.dropout, cfg.seed).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return model, optimizer


def save_checkpoint(
    path: Path,
    identity: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    best: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> None:
    """Everything a resumed run needs, as one safetensors file written atomically."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors |= {f"best.{k}": v for k, v in best.items()}
    for i, param in enumerate(model.parameters()):
        for key, value in optimizer.state.get(param, {}).items():
            tensors[f"adamw.{i}.{key}"] = value
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {STATE_KEY: json.dumps(state), IDENTITY_KEY: identity}
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_checkpoint(
    path: Path,
    identity: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """Restore model and optimizer from ``path``; the loop's state and the best weights. None
    (and the file set aside) when it belongs to other settings or data, or cannot be read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (no __iter__)
        if metadata.get(IDENTITY_KEY) != identity:
            log.warning("checkpoint %s is of other settings or data; training starts afresh", path)
            path.unlink()
            return None
        state = json.loads(metadata[STATE_KEY])
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        best = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
        params = list(model.parameters())
        saved: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("adamw."):
                _, index, name = key.split(".", 2)
                saved.setdefault(int(index), {})[name] = value
        if set(saved) - set(range(len(params))) or set(best) != set(model.state_dict()):
            raise ValueError("tensors do not match the network")
        groups = optimizer.state_dict()["param_groups"]
        optimizer.load_state_dict({"state": saved, "param_groups": groups})
        return state, best
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError) as err:
        log.warning("checkpoint %s cannot be resumed (%s); training starts afresh", path, err)
        path.unlink(missing_ok=True)
        return None
