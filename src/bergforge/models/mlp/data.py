"""The training set of one ``mlp`` fit: inputs, repetition-averaged targets and the held-out images.

Training images are the split's (:func:`bergforge.models.linear.splits.training_split`): every
training image of a MEG/EEG subject, which must have at least one finite repetition; the rows a
subject saw of an fMRI store (whose ``train`` array has a row for every image of the dataset).
Inputs are the split's PCA scores, fitted exactly as the ``linear`` kind fits its split (the same
scaler, PCA code, options and seed, :func:`bergforge.models.linear.pca.fit_scaler_pca`), or the
raw feature columns. A seeded rule holds out ``val_fraction`` of the training images for early
stopping: ``np.random.default_rng([seed, subject]).permutation(n)``, the first
``max(1, round(n · val_fraction))`` positions (sorted) are the validation images.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from bergforge.errors import ConfigError, DataError
from bergforge.features.plan import feature_rows
from bergforge.models.kind import FitRequest
from bergforge.models.linear.matrix import FeatureMatrix, check_finite
from bergforge.models.linear.pca import PCAModel, PCAOptions, fit_scaler_pca
from bergforge.models.linear.scaler import Scaler, constant_columns
from bergforge.models.linear.seeds import pca_seed
from bergforge.models.linear.splits import training_split
from bergforge.models.mlp.settings import MlpConfig
from bergforge.preprocess.responses import PreparedResponses

log = logging.getLogger(__name__)

#: the one split the kind fits per subject
SPLIT = "all"


@dataclass
class TrainingSet:
    """Inputs and targets of one subject's training images, and how they were made."""

    responses: PreparedResponses
    images: np.ndarray  # rows of the prepared ``train`` array, sorted
    image_ids: list[str]
    inputs: np.ndarray  # (n, k) float32: PCA scores or raw features
    targets: np.ndarray  # (n, T) float32: repetition means
    validation: np.ndarray  # positions (into ``images``) held out for early stopping
    fit: np.ndarray  # the other positions
    scaler: Scaler | None = None  # input = pca
    pca: PCAModel | None = None
    pca_record: dict[str, Any] | None = None
    pca_seed: int | None = None


def validation_positions(n: int, fraction: float, seed: int, subject: int) -> np.ndarray:
    """The held-out positions of ``n`` training images (module docstring), sorted."""
    if n < 2:
        raise DataError(
            f"the mlp kind needs at least 2 training images (fit + validation); got {n}"
        )
    n_val = min(n - 1, max(1, int(round(n * fraction))))
    return np.sort(np.random.default_rng([seed, subject]).permutation(n)[:n_val])


def training_images(
    responses: PreparedResponses, stimuli: pd.DataFrame, split: str, kind: str = "mlp"
) -> tuple[np.ndarray, np.ndarray]:
    """(rows of the prepared ``train`` array, repetitions averaged) of ``split``.

    A MEG/EEG training image without a finite repetition is an error; an fMRI store's rows of
    images the subject never saw are not its training images."""
    n_train, n_reps = responses.shape("train")
    sel = training_split(responses.modality, split, n_train, n_reps)
    present = responses.present("train")[np.ix_(sel.images, sel.repetitions)].any(axis=1)
    if responses.modality == "fmri":
        images = sel.images[present]
    else:
        if not present.all():
            row = int(sel.images[~present][0])
            ids = stimuli.loc[stimuli["split"] == "train"].set_index("index")["image_id"]
            raise DataError(
                f"{responses.path}: training image {row} ({ids.get(row, '?')}) has no finite "
                f"repetition ({int((~present).sum())} such images); expected at least one "
                f"repetition of every training image (the {kind} kind does not drop images)"
            )
        images = sel.images
    if images.size < 2:
        raise DataError(f"{responses.path}: {images.size} training images; expected at least 2")
    return images, sel.repetitions


def averaged_targets(
    responses: PreparedResponses, images: np.ndarray, repetitions: np.ndarray
) -> np.ndarray:
    """Repetition means (n, T) float32 of ``images``; a non-finite mean is one error."""
    targets = np.empty((images.size, responses.n_targets), dtype=np.float32)
    limit = float(np.finfo(np.float32).max)
    for positions, block in responses.batches("train", images, repetitions):
        bad = ~np.isfinite(block)
        if bad.any():
            i, t = np.argwhere(bad)[0]
            raise DataError(
                f"{responses.path}: the averaged training response of image "
                f"{int(images[positions[i]])} is not finite at target {int(t)}; expected finite"
            )
        big = np.abs(block) > limit  # a finite float64 mean float32 cannot hold
        if big.any():
            i, t = np.argwhere(big)[0]
            raise DataError(
                f"{responses.path}: the averaged training response of image "
                f"{int(images[positions[i]])} does not fit float32 at target {int(t)}; expected "
                "finite values"
            )
        targets[positions] = block
    return targets


def training_set(
    responses: PreparedResponses,
    stimuli: pd.DataFrame,
    features: FeatureMatrix,
    cfg: MlpConfig,
    subject: int,
) -> TrainingSet:
    """Inputs, targets and the validation images of one subject (split ``all``)."""
    n_train = responses.shape("train")[0]
    if features.shape[0] != len(stimuli):
        raise DataError(
            f"the feature matrix has {features.shape[0]} rows; stimuli.tsv has {len(stimuli)}"
        )
    images, repetitions = training_images(responses, stimuli, SPLIT)
    rows = feature_rows(stimuli, "train", n_train)[images]
    ids = stimuli["image_id"].to_numpy()[rows].astype(str).tolist()
    validation = validation_positions(images.size, cfg.val_fraction, cfg.seed, subject)
    fit = np.setdiff1d(np.arange(images.size), validation)
    log.info(
        "split %s: %d training images (%d fitted, %d held out for early stopping)",
        SPLIT,
        images.size,
        fit.size,
        validation.size,
    )
    targets = averaged_targets(responses, images, repetitions)
    out = TrainingSet(responses, images, ids, np.empty((0, 0)), targets, validation, fit)
    if cfg.input == "pca":
        if cfg.n_components >= images.size:
            raise DataError(
                f"models.mlp.n_components = {cfg.n_components} needs more training images than "
                f"components; {responses.path} has {images.size} (lower n_components)"
            )
        options = PCAOptions(n_components=cfg.n_components, **cfg.pca)
        seed = pca_seed(responses.modality, responses.subject, SPLIT)
        pca_fit = fit_scaler_pca(features, rows, None, options, seed)
        out.inputs = pca_fit.train_scores.astype(np.float32)
        out.scaler, out.pca, out.pca_seed = pca_fit.scaler, pca_fit.pca, seed
        out.pca_record = {**asdict(options), "solver_used": pca_fit.solver}
    else:
        inputs = features.read_columns(0, features.shape[1], rows)
        check_finite(inputs, 0)
        out.inputs = np.asarray(inputs, dtype=np.float32)
    return out


@dataclass(frozen=True)
class Standardisation:
    """``(x - mean) / scale`` of the network's inputs or targets (float32 vectors)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, per_column: bool) -> Standardisation:
        """From the fitted rows ``x``: each column's sd, or one common scale (the root mean
        variance over columns, keeping the PCA scores' relative sizes)."""
        mean = x.mean(axis=0, dtype=np.float64)
        var = x.var(axis=0, dtype=np.float64)
        if per_column:
            scale = np.sqrt(var)
            scale[constant_columns(var, mean, x.shape[0])] = 1.0
        else:
            common = float(np.sqrt(var.mean())) if var.size else 1.0
            scale = np.full(var.shape, common if common > 0 else 1.0)
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float32) - self.mean) / self.scale


def check_split(split: str, kind: str = "mlp") -> None:
    if split != SPLIT:
        raise ConfigError(f"the {kind} kind fits split {SPLIT!r} only; got {split!r}")


def fit_request_subject(request: FitRequest) -> int:
    """The one subject of a subject-scope fit."""
    if len(request.subjects) != 1 or len(request.prepared) != 1:
        raise ConfigError(f"the mlp kind fits one subject at a time; got {list(request.subjects)}")
    return int(request.subjects[0])
