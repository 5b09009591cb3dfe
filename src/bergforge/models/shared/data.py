"""The training set of one ``shared`` fit: every subject's targets on one input matrix.

The features are those of the dataset's images, the same for every subject, so the trunk's input
is one matrix over the *union* of the subjects' training images (feature-matrix rows, sorted):
with ``input: pca`` the scores of one scaler + PCA fitted on that union (the ``linear`` kind's
code and options, seeded with the kind's ``seed``), with ``input: features`` the raw columns.
Each subject keeps its own training images (:func:`bergforge.models.mlp.data.training_images`:
all of a MEG/EEG subject's, the ones an fMRI subject saw) and its own repetition-averaged targets,
however many (its adapter has one output per target, so subjects with other channel or vertex sets
train together). Early stopping holds out images, not subject × image pairs: the seeded rule of
the ``mlp`` kind (``np.random.default_rng([seed, 0]).permutation`` of the union, the first
``max(1, round(n · val_fraction))``) picks the validation images, held out for every subject that
saw them, so the trunk never trains on an image it is validated on.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bergforge.errors import ConfigError, DataError
from bergforge.features.plan import feature_rows
from bergforge.models.linear.matrix import FeatureMatrix, check_finite
from bergforge.models.linear.pca import PCAModel, PCAOptions, fit_scaler_pca
from bergforge.models.linear.scaler import Scaler
from bergforge.models.mlp.data import (
    SPLIT,
    Standardisation,
    averaged_targets,
    training_images,
    validation_positions,
)
from bergforge.models.mlp.settings import MlpConfig
from bergforge.preprocess.responses import PreparedResponses

log = logging.getLogger(__name__)

#: the validation rule's second seed (the ``mlp`` kind's is the subject; 0 is no subject)
VALIDATION_STREAM = 0


@dataclass
class SubjectSet:
    """One subject's part: its training images and standardised targets."""

    subject: int
    responses: PreparedResponses
    images: np.ndarray  # rows of the subject's prepared ``train`` array, sorted
    inputs: np.ndarray  # (n,) positions of those images in the union (rows of the input matrix)
    targets: np.ndarray  # (n, T) float32, standardised per target in place
    fit: np.ndarray  # positions (into ``images``) trained on
    validation: np.ndarray  # positions held out for early stopping
    standardisation: Standardisation | None = None


@dataclass
class SharedSet:
    """Inputs of the union of training images and every subject's part."""

    subjects: list[SubjectSet]
    rows: np.ndarray  # feature-matrix rows of the union, sorted
    image_ids: list[str]
    inputs: np.ndarray  # (n_union, k) float32, standardised
    validation_images: np.ndarray  # positions in the union held out for early stopping
    input_standardisation: Standardisation | None = None
    scaler: Scaler | None = None
    pca: PCAModel | None = None
    pca_record: dict[str, Any] | None = None
    pca_seed: int | None = None
    subject_ids: list[int] = field(default_factory=list)


def check_subjects(subjects: list[int], what: str = "a shared model", minimum: int = 2) -> None:
    """At least ``minimum`` distinct subjects: a shared model of one subject shares its trunk
    with no one (a held-out subject's trunk may be trained on the one other subject)."""
    if len(subjects) < minimum or len(set(subjects)) != len(subjects):
        raise ConfigError(
            f"{what} needs at least {minimum} distinct subjects; got {list(subjects)} (fit the "
            "mlp kind for one subject)"
        )


def union_rows(
    responses: list[PreparedResponses], stimuli: pd.DataFrame
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Feature rows of every subject's training images (sorted union) and, per subject, (images,
    repetitions, feature rows)."""
    parts = []
    for store in responses:
        images, repetitions = training_images(store, stimuli, SPLIT, kind="shared")
        rows = feature_rows(stimuli, "train", store.shape("train")[0])[images]
        parts.append((images, repetitions, rows))
    return np.unique(np.concatenate([p[2] for p in parts])), parts


def shared_set(
    responses: list[PreparedResponses],
    stimuli: pd.DataFrame,
    features: FeatureMatrix,
    cfg: MlpConfig,
) -> SharedSet:
    """Inputs, standardised targets and held-out images of the subjects of ``responses`` (one
    is enough here: a held-out subject's trunk may be trained on the one other subject)."""
    subjects = [int(r.subject) for r in responses]
    check_subjects(subjects, "a shared trunk", minimum=1)  # the fit job asks for 2
    if features.shape[0] != len(stimuli):
        raise DataError(
            f"the feature matrix has {features.shape[0]} rows; stimuli.tsv has {len(stimuli)}"
        )
    rows, parts = union_rows(responses, stimuli)
    ids = stimuli["image_id"].to_numpy()[rows].astype(str).tolist()
    validation = validation_positions(rows.size, cfg.val_fraction, cfg.seed, VALIDATION_STREAM)
    held_out = np.zeros(rows.size, dtype=bool)
    held_out[validation] = True
    out = SharedSet([], rows, ids, np.empty((0, 0), np.float32), validation, subject_ids=subjects)
    for store, (images, repetitions, own_rows) in zip(responses, parts, strict=True):
        inputs = np.searchsorted(rows, own_rows)
        val = np.flatnonzero(held_out[inputs])
        fit = np.flatnonzero(~held_out[inputs])
        if fit.size == 0:
            raise DataError(
                f"{store.path}: every training image of subject {store.subject} is held out for "
                "early stopping; expected some to train on (lower val_fraction)"
            )
        targets = averaged_targets(store, images, repetitions)
        part = SubjectSet(int(store.subject), store, images, inputs, targets, fit, val)
        part.standardisation = Standardisation.of(targets[fit], per_column=True)
        targets -= part.standardisation.mean  # in place: the largest arrays are not copied
        targets /= part.standardisation.scale
        out.subjects.append(part)
        log.info(
            "subject %d: %d training images (%d fitted, %d held out), %d targets",
            store.subject,
            images.size,
            fit.size,
            val.size,
            targets.shape[1],
        )
    log.info(
        "%d subjects, %d distinct training images (%d held out for early stopping)",
        len(subjects),
        rows.size,
        validation.size,
    )
    raw = _inputs(out, features, cfg)
    fitted = np.setdiff1d(np.arange(rows.size), validation)
    out.input_standardisation = Standardisation.of(raw[fitted], per_column=cfg.input == "features")
    out.inputs = out.input_standardisation.apply(raw)
    return out


def _inputs(out: SharedSet, features: FeatureMatrix, cfg: MlpConfig) -> np.ndarray:
    """PCA scores of the union (recorded in ``out``) or its raw feature columns."""
    if cfg.input == "features":
        x = features.read_columns(0, features.shape[1], out.rows)
        check_finite(x, 0)
        return np.asarray(x, dtype=np.float32)
    if cfg.n_components >= out.rows.size:
        raise DataError(
            f"{cfg.SECTION}.n_components = {cfg.n_components} needs more training images than "
            f"components; the subjects' training images number {out.rows.size} (lower "
            "n_components)"
        )
    options = PCAOptions(n_components=cfg.n_components, **cfg.pca)
    pca_fit = fit_scaler_pca(features, out.rows, None, options, cfg.seed)
    out.scaler, out.pca, out.pca_seed = pca_fit.scaler, pca_fit.pca, cfg.seed
    out.pca_record = {**asdict(options), "solver_used": pca_fit.solver}
    return pca_fit.train_scores.astype(np.float32)
