"""The ``shared`` kind on fixations: a trunk on every training subject's fixations, an adapter per
subject, and the **mean adapter** for a subject never seen.

Training (:func:`bergforge.models.shared.train.train_shared_network`, the image-indexed ``shared``
kind's loop: AdamW, per-sample MSE, early stopping, seeded batch order and dropout): the input
matrix is every subject's fixations stacked (subject order), standardised per column on the
fitted rows; each subject's targets are standardised per target on its own fitted rows. Early
stopping holds out ``val_fraction`` of each subject's fixations, drawn with
``np.random.default_rng([seed, subject]).permutation`` (the ``mlp`` kind's rule,
:func:`bergforge.models.mlp.data.validation_positions`).

Unseen subject: its standardised features through the trunk, then the mean over the trained
subjects of their adapters' weights and biases, then the mean of their target means and scales:
``y = (h W̄ᵀ + b̄) · s̄ + m̄``.

Tensors (float32; the ``shared`` kind's names, :mod:`bergforge.models.shared.weights`):
``trunk.hidden.{i}.weight``/``.bias``, ``adapter.sub-XX.weight``/``.bias``, ``input.mean``,
``input.scale``, ``target.sub-XX.mean``/``.scale``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.fixations.settings import FixationNetConfig
from bergforge.models.mlp.data import Standardisation, validation_positions
from bergforge.models.shared.weights import adapter_key, target_key, trunk_activations

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"


def split_fixations(
    subjects: list[int], counts: list[int], cfg: FixationNetConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per subject (fitted, held-out) positions of its fixations."""
    out = []
    for subject, n in zip(subjects, counts, strict=True):
        held = validation_positions(n, cfg.val_fraction, cfg.seed, int(subject))
        out.append((np.setdiff1d(np.arange(n), held), held))
    return out


def fit_shared_tensors(
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    subjects: list[int],
    cfg: FixationNetConfig,
    workdir: Path | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train the trunk and adapters; the tensors (module docstring) and the training record.
    The per-epoch checkpoint lives in ``workdir`` (resumable there; a temporary folder when
    None) and is removed once training ends."""
    import torch

    from bergforge.models.mlp.train import fingerprint, resolve_device
    from bergforge.models.shared.train import Samples, train_shared_network

    device = resolve_device(cfg.device, cfg.SECTION)
    splits = split_fixations(subjects, [len(x) for x in xs], cfg)
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in xs])[:-1]]).astype(np.int64)
    x_all = np.concatenate([np.asarray(x, dtype=np.float32) for x in xs])
    fitted_rows = np.concatenate([o + f for o, (f, _) in zip(offsets, splits, strict=True)])
    inputs = Standardisation.of(x_all[fitted_rows], per_column=True)
    x_std = inputs.apply(x_all)
    targets, stats = [], []
    for y, (fit, _) in zip(ys, splits, strict=True):
        standard = Standardisation.of(np.asarray(y, dtype=np.float32)[fit], per_column=True)
        targets.append(standard.apply(y))
        stats.append(standard)
    fit_samples = Samples.of([(o + f, f) for o, (f, _) in zip(offsets, splits, strict=True)])
    val_samples = Samples.of([(o + v, v) for o, (_, v) in zip(offsets, splits, strict=True)])
    data_id = fingerprint(
        x_std,
        np.asarray(subjects),
        *targets,
        *(getattr(s, f) for s in (fit_samples, val_samples) for f in ("subject", "input_row")),
    )
    with tempfile.TemporaryDirectory(prefix="fixation-shared-") as scratch:
        folder = Path(workdir) if workdir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint = folder / CHECKPOINT
        trained = train_shared_network(
            x_std, targets, fit_samples, val_samples, cfg, torch.device(device), checkpoint, data_id
        )
        checkpoint.unlink(missing_ok=True)
    tensors: dict[str, np.ndarray] = {
        "input.mean": inputs.mean.astype(np.float32),
        "input.scale": inputs.scale.astype(np.float32),
    }
    for name, value in trained.weights.items():
        value = np.asarray(value, dtype=np.float32)
        if name.startswith("hidden."):
            tensors[f"trunk.{name}"] = value
        else:  # adapters.{j}.weight → adapter.sub-XX.weight
            _, j, what = name.split(".")
            tensors[f"{adapter_key(subjects[int(j)])}.{what}"] = value
    for subject, standard in zip(subjects, stats, strict=True):
        tensors[f"{target_key(subject)}.mean"] = standard.mean.astype(np.float32)
        tensors[f"{target_key(subject)}.scale"] = standard.scale.astype(np.float32)
    record = {
        "device": str(device),
        "best_epoch": trained.best_epoch,
        "best_validation_loss": trained.best_validation_loss,
        "epochs": trained.epochs,
        "history": trained.history,
        "fixations": {
            f"sub-{s:02d}": {"fitted": int(f.size), "held_out": int(v.size)}
            for s, (f, v) in zip(subjects, splits, strict=True)
        },
    }
    return tensors, record


def mean_adapter(tensors: dict[str, np.ndarray], subjects: list[int]) -> dict[str, np.ndarray]:
    """The trained subjects' adapter weights, biases, target means and scales averaged (float64)."""
    out = {}
    for name, prefix, what in (
        ("weight", adapter_key, "weight"),
        ("bias", adapter_key, "bias"),
        ("mean", target_key, "mean"),
        ("scale", target_key, "scale"),
    ):
        parts = [np.asarray(tensors[f"{prefix(s)}.{what}"], np.float64) for s in subjects]
        out[name] = np.mean(parts, axis=0)
    return out


def predict_shared(
    tensors: dict[str, np.ndarray], subjects: list[int], x: np.ndarray
) -> np.ndarray:
    """Responses (n, T) float64 of a subject never seen, from its feature rows ``x``."""
    adapter = mean_adapter(tensors, subjects)
    hidden = trunk_activations(tensors, x)
    return (hidden @ adapter["weight"].T + adapter["bias"]) * adapter["scale"] + adapter["mean"]


def expected_tensors(
    subjects: list[int], n_features: int, n_targets: int, hidden: int, depth: int
) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor of a fitted model."""
    shapes: dict[str, tuple[int, ...]] = {
        "input.mean": (n_features,),
        "input.scale": (n_features,),
    }
    for i in range(depth):
        shapes[f"trunk.hidden.{i}.weight"] = (hidden, n_features if i == 0 else hidden)
        shapes[f"trunk.hidden.{i}.bias"] = (hidden,)
    for s in subjects:
        shapes[f"{adapter_key(s)}.weight"] = (n_targets, hidden)
        shapes[f"{adapter_key(s)}.bias"] = (n_targets,)
        shapes[f"{target_key(s)}.mean"] = (n_targets,)
        shapes[f"{target_key(s)}.scale"] = (n_targets,)
    return shapes
