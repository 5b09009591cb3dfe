"""A subject the trunk never saw: leave-one-subject-out predictions of its test images.

For a held-out subject ``h`` of a dataset:

1. **Trunk without h.** The trunk and adapters are trained on every other subject exactly as the
   fit job trains them on all (:func:`bergforge.models.shared.job.train_shared`: same settings,
   seeds, early stopping, resumable checkpoint); h's responses are never read for it.
2. **Mean adapter** (seed 004's idea): h's adapter row of a target is the mean of the trained
   subjects' adapter rows (weights and bias) of the same target, and so are the target's mean and
   scale (:mod:`bergforge.models.shared.targets` matches targets by channel and time or vertex).
   A target of h that no trained subject has gets no prediction (NaN; counted as not covered).
3. **Few-shot** (``few_shot_k`` = k ≥ 2; 0 turns it off): k of h's training images, chosen by
   ``np.random.default_rng([seed, 4, h]).permutation(n)[:k]`` (sorted), fine-tune the adapter
   from the mean adapter: the ridge solution towards it, ``ΔW = argmin ‖R − H ΔWᵀ − 1Δbᵀ‖² +
   α‖ΔW‖²`` on the k images' trunk activations H and residuals R (h's repetition-averaged
   responses, standardised with the mean adapter's target statistics, minus the mean adapter's
   outputs; the bias unpenalised). α is the value of ``few_shot_alphas`` with the smallest
   leave-one-out error over the k images and the covered targets (exact for a penalised least
   squares: ``eᵢ / (1 − hᵢᵢ)``). It is the MAP estimate of the adapter under a Gaussian prior
   centred on the mean adapter; large α keeps the mean adapter.

The predictions are of the test images' feature rows the caller gives; the evaluation (r, noise
ceiling) is :mod:`bergforge.evaluation.unseen`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.errors import ConfigError, DataError
from bergforge.features.plan import feature_rows
from bergforge.models.mlp.data import SPLIT, averaged_targets, training_images
from bergforge.models.shared.data import check_subjects
from bergforge.models.shared.settings import SharedConfig
from bergforge.models.shared.targets import match_targets
from bergforge.models.shared.weights import (
    adapter_key,
    subject_predictor,
    target_key,
    trunk_activations,
    trunk_depth,
)

log = logging.getLogger(__name__)

#: the few-shot images' random stream after the seed
FEW_SHOT_STREAM = 4


@dataclass
class MeanAdapter:
    """The held-out subject's adapter and target statistics averaged over the trained subjects."""

    weight: np.ndarray  # (T, H) float64; zero rows where not covered
    bias: np.ndarray  # (T,)
    mean: np.ndarray  # (T,)
    scale: np.ndarray  # (T,)
    covered: np.ndarray  # (T,) bool: at least one trained subject has the target

    def outputs(self, hidden: np.ndarray) -> np.ndarray:
        """Standardised outputs (n, T) of trunk activations."""
        return hidden @ self.weight.T + self.bias

    def responses(self, hidden: np.ndarray) -> np.ndarray:
        """Responses (n, T): outputs in the target statistics; NaN where not covered."""
        out = self.outputs(hidden) * self.scale + self.mean
        out[:, ~self.covered] = np.nan
        return out


@dataclass
class UnseenPrediction:
    """Predictions of a held-out subject's test images and how they were made."""

    held_out: int
    trained_subjects: list[int]
    mean_adapter: np.ndarray  # (n_rows, T) float64, NaN columns where not covered
    covered: np.ndarray  # (T,) bool
    few_shot: np.ndarray | None = None  # (n_rows, T), None when few_shot_k = 0
    few_shot_image_ids: list[str] = field(default_factory=list)
    few_shot_alpha: float | None = None
    few_shot_loo: dict[str, float] = field(default_factory=dict)  # α → mean LOO error
    training: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def check_held_out(subjects: list[int], held_out: int) -> list[int]:
    """The subjects a trunk is trained on without ``held_out``; one error each for a held-out
    subject that is not in the data and for too few subjects."""
    subjects = [int(s) for s in subjects]
    if int(held_out) not in subjects:
        raise ConfigError(
            f"held-out subject {int(held_out)} is not in the data; expected one of {subjects}"
        )
    check_subjects(subjects, "leave-one-subject-out evaluation")
    return [s for s in subjects if s != int(held_out)]


def mean_adapter(tensors: dict[str, np.ndarray], held_out: Any, trained: list[Any]) -> MeanAdapter:
    """Average the trained subjects' adapters over the targets each shares with ``held_out``."""
    n_targets = int(held_out.n_targets)
    hidden = int(tensors[f"trunk.hidden.{trunk_depth(tensors) - 1}.weight"].shape[0])
    acc = MeanAdapter(
        np.zeros((n_targets, hidden)),
        np.zeros(n_targets),
        np.zeros(n_targets),
        np.zeros(n_targets),
        np.zeros(n_targets, dtype=bool),
    )
    count = np.zeros(n_targets)
    for store, (mine, theirs) in zip(trained, match_targets(held_out, trained), strict=True):
        a, t = adapter_key(store.subject), target_key(store.subject)
        acc.weight[mine] += tensors[f"{a}.weight"][theirs]
        acc.bias[mine] += tensors[f"{a}.bias"][theirs]
        acc.mean[mine] += tensors[f"{t}.mean"][theirs]
        acc.scale[mine] += tensors[f"{t}.scale"][theirs]
        count[mine] += 1
    acc.covered = count > 0
    if not acc.covered.any():
        raise DataError(
            f"{held_out.path}: no target of subject {held_out.subject} is a target of the "
            "trained subjects; expected shared channels or vertices"
        )
    n = np.maximum(count, 1)
    acc.weight /= n[:, None]
    acc.bias /= n
    acc.mean /= n
    acc.scale[acc.covered] /= count[acc.covered]
    acc.scale[~acc.covered] = 1.0
    return acc


def few_shot_positions(n_images: int, k: int, seed: int, subject: int) -> np.ndarray:
    """The k training images (positions, sorted) of the held-out subject's few-shot fit."""
    if k > n_images:
        raise DataError(
            f"few_shot_k = {k} needs {k} training images of subject {subject}; it has {n_images}"
        )
    rng = np.random.default_rng([seed, FEW_SHOT_STREAM, subject])
    return np.sort(rng.permutation(n_images)[:k])


def fine_tune(
    hidden: np.ndarray, residual: np.ndarray, alphas: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, float, dict[str, float]]:
    """(ΔW (T, H), Δb (T,), chosen α, mean LOO error per α) of the ridge fit of ``residual``
    (k, T) on ``hidden`` (k, H) with an unpenalised bias (module docstring)."""
    k = hidden.shape[0]
    h_mean, r_mean = hidden.mean(axis=0), residual.mean(axis=0)
    hc, rc = hidden - h_mean, residual - r_mean
    u, s, vt = np.linalg.svd(hc, full_matrices=False)
    ut_r = u.T @ rc
    errors: dict[str, float] = {}
    best = None
    for alpha in alphas:
        shrink = s**2 / (s**2 + alpha)
        resid = rc - u @ (shrink[:, None] * ut_r)
        leverage = 1.0 / k + (u**2) @ shrink
        error = float(np.mean((resid / (1.0 - leverage)[:, None]) ** 2))
        errors[f"{alpha:g}"] = error
        if best is None or error < best[1]:
            best = (float(alpha), error)
    alpha = best[0]
    beta = vt.T @ ((s / (s**2 + alpha))[:, None] * ut_r)  # (H, T)
    return beta.T, r_mean - h_mean @ beta, alpha, errors


def few_shot_data(
    held: Any, stimuli: pd.DataFrame, cfg: SharedConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(feature-matrix rows, repetition-averaged responses (k, T) float64) of the held-out
    subject's ``few_shot_k`` images; one error for a training image without a finite repetition
    or a non-finite average (read before the trunk is trained)."""
    images, repetitions = training_images(held, stimuli, SPLIT, kind="shared")
    subject = int(held.subject)
    chosen = images[few_shot_positions(images.size, cfg.few_shot_k, cfg.seed, subject)]
    image_rows = feature_rows(stimuli, "train", held.shape("train")[0])[chosen]
    return image_rows, averaged_targets(held, chosen, repetitions).astype(np.float64)


def predict_unseen(
    stores: list[Any],
    held_out: int,
    stimuli: pd.DataFrame,
    features: Any,
    cfg: SharedConfig,
    rows: np.ndarray,
    checkpoint: Path,
    device: str = "cpu",
    threads: int = 1,
    on_epoch_end: Callable[..., None] | None = None,
) -> UnseenPrediction:
    """Leave ``held_out`` out of ``stores`` (every subject's prepared store), train on the rest
    and predict feature-matrix ``rows`` (its test images) for it (module docstring)."""
    from bergforge.models.shared.job import train_shared

    by_subject = {int(s.subject): s for s in stores}
    others = check_held_out(list(by_subject), held_out)
    if cfg.few_shot_k == 1:
        raise ConfigError(
            f"{cfg.SECTION}.few_shot_k = 1; expected 0 (off) or at least 2 (leave-one-out over "
            "the k images chooses the penalty)"
        )
    held = by_subject[int(held_out)]
    trained = [by_subject[s] for s in others]
    match_targets(held, trained)  # unmatched target sets fail before any training
    shots = few_shot_data(held, stimuli, cfg) if cfg.few_shot_k else None  # so does bad data
    log.info("subject %d held out; the trunk is trained on subjects %s", held_out, others)
    tensors, record = train_shared(
        trained, stimuli, features, cfg, checkpoint, device, threads, on_epoch_end
    )
    adapter = mean_adapter(tensors, held, trained)
    reader = subject_predictor(tensors, others[0])  # the trunk's inputs (PCA) are everyone's

    def hidden_of(feature_rows_: np.ndarray) -> np.ndarray:
        return trunk_activations(tensors, reader.inputs(features, feature_rows_))

    test_hidden = hidden_of(np.asarray(rows))
    out = UnseenPrediction(
        held_out=int(held_out),
        trained_subjects=others,
        mean_adapter=adapter.responses(test_hidden),
        covered=adapter.covered,
        training={k: record[k] for k in ("epochs", "best_epoch", "best_validation_loss", "device")},
        settings={**cfg.hyperparameters(), **cfg.unseen()},
    )
    log.info(
        "mean adapter: %d of %d targets covered by the trained subjects",
        int(adapter.covered.sum()),
        adapter.covered.size,
    )
    if shots is not None:
        image_rows, targets = shots
        hidden = hidden_of(image_rows)
        covered = adapter.covered
        z = (targets[:, covered] - adapter.mean[covered]) / adapter.scale[covered]
        residual = z - adapter.outputs(hidden)[:, covered]
        dw, db, alpha, errors = fine_tune(hidden, residual, tuple(cfg.few_shot_alphas))
        tuned = MeanAdapter(
            adapter.weight.copy(), adapter.bias.copy(), adapter.mean, adapter.scale, covered
        )
        tuned.weight[covered] += dw
        tuned.bias[covered] += db
        out.few_shot = tuned.responses(test_hidden)
        out.few_shot_image_ids = stimuli["image_id"].to_numpy()[image_rows].astype(str).tolist()
        out.few_shot_alpha, out.few_shot_loo = alpha, errors
        log.info("few-shot on %d images: alpha %g (LOO errors %s)", cfg.few_shot_k, alpha, errors)
    return out
