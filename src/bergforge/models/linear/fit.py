"""Fit one encoding model: subject × split × backbone → scaler, PCA and regression files.

Steps: pick the split's training images and repetitions; fit StandardScaler → PCA on their
features out of core (test images projected in the same pass); one streaming pass over the
responses accumulates the regression statistics per fold; target blocks are solved as Dask tasks;
the files of ``docs/interfaces.md`` (encoding model) are written, each under a temporary name.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge import __version__
from bergforge.atomic import save_json, save_npz
from bergforge.errors import ConfigError, DataError
from bergforge.features.plan import feature_rows
from bergforge.models.linear.blocks import map_blocks, target_blocks
from bergforge.models.linear.matrix import FeatureMatrix
from bergforge.models.linear.pca import PCAOptions, fit_scaler_pca
from bergforge.models.linear.ridge import (
    REGRESSIONS,
    FoldStatistics,
    check_alphas,
    concatenate,
    solve,
)
from bergforge.models.linear.seeds import pca_seed
from bergforge.models.linear.splits import training_split
from bergforge.preprocess.responses import PreparedResponses

log = logging.getLogger(__name__)

DEFAULT_ALPHAS = [10.0**e for e in range(-2, 8)]


@dataclass(frozen=True)
class EncodingOptions:
    """The ``encoding`` section of the config."""

    n_components: int = 250
    regression: str = "ols"
    alphas: list[float] = field(default_factory=lambda: list(DEFAULT_ALPHAS))
    folds: int = 5
    target_block_size: int = 8192
    dask_scheduler: str | None = None
    pca: PCAOptions = field(default_factory=PCAOptions)

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> EncodingOptions:
        """Options from a validated config section (missing keys take the defaults)."""
        cfg = dict(section or {})
        pca = dict(cfg.pop("pca", {}) or {})
        n_components = int(cfg.get("n_components", 250))
        opts = cls(**cfg, pca=PCAOptions(n_components=n_components, **pca))
        if opts.regression not in REGRESSIONS:
            raise ConfigError(
                f"models.linear.regression = {opts.regression!r}; expected one of {REGRESSIONS}"
            )
        if opts.regression == "ridge_cv":
            check_alphas(opts.alphas)
        return opts


def fit_model(
    responses: PreparedResponses,
    stimuli: pd.DataFrame,
    features: FeatureMatrix,
    split: str,
    options: EncodingOptions,
    out_dir: Path | str,
    threads: int = 1,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit and write the model of one subject × split; returns the ``model.json`` payload."""
    out_dir = Path(out_dir)
    n_train, n_reps = responses.shape("train")
    if features.shape[0] != len(stimuli):
        raise DataError(
            f"the feature matrix has {features.shape[0]} rows; stimuli.tsv has {len(stimuli)}"
        )
    sel = training_split(responses.modality, split, n_train, n_reps)
    present = responses.present("train")[np.ix_(sel.images, sel.repetitions)].any(axis=1)
    images = sel.images[present]
    if images.size == 0:
        raise DataError(f"split {split!r} of {responses.path} has no training responses")
    rows_train = feature_rows(stimuli, "train", n_train)[images]
    n_test = responses.shape("test")[0]
    rows_test = feature_rows(stimuli, "test", n_test)
    seed = pca_seed(responses.modality, responses.subject, split)
    log.info("split %s: %d training images, PCA seed %d", split, images.size, seed)
    pca_fit = fit_scaler_pca(features, rows_train, rows_test, options.pca, seed)

    kind = options.regression
    folds = options.folds if kind == "ridge_cv" else 1
    k = options.n_components
    stats = FoldStatistics(images.size, k, responses.n_targets, folds)
    for positions, y in responses.batches("train", images, sel.repetitions):
        stats.add(pca_fit.train_scores[positions], y)
    alphas = check_alphas(options.alphas) if kind == "ridge_cv" else None
    blocks = target_blocks(responses.n_targets, options.target_block_size)
    result = concatenate(
        map_blocks(
            solve,
            [(stats.subset(b), kind, alphas) for b in blocks],
            threads,
            options.dask_scheduler,
        )
    )

    pca_fit.scaler.save(out_dir / "scaler.npz")
    pca_fit.pca.save(out_dir / "pca.npz")
    save_npz(
        out_dir / "regression.npz",
        coef_=result.coef.astype(np.float32),
        intercept_=result.intercept.astype(np.float32),
        alpha_=result.alpha,
    )
    model = {
        "kind": kind,
        "split": split,
        "modality": responses.modality,
        "subject": responses.subject,
        "target_dims": list(responses.attrs.get("dims", []))[2:],
        "target_shape": list(responses.target_shape),
        "n_components": k,
        "train_image_indices": images.tolist(),
        "train_image_ids": stimuli["image_id"].to_numpy()[rows_train].astype(str).tolist(),
        "train_repetitions": sel.repetitions.tolist(),
        "test_image_ids": stimuli["image_id"].to_numpy()[rows_test].astype(str).tolist(),
        "seeds": {"pca": seed, "split_permutation": 20200220},
        "pca": {**asdict(options.pca), "solver_used": pca_fit.solver, "passes": pca_fit.passes},
        "regression": {
            "kind": kind,
            "alphas": list(options.alphas) if kind == "ridge_cv" else [],
            "folds": folds,
            "target_block_size": options.target_block_size,
        },
        "provenance": {"bergforge_version": __version__, **(provenance or {})},
    }
    save_json(out_dir / "model.json", model)
    return model
