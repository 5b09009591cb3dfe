"""Fit, predict, save and load a ridge decoder (pickle-free: npz files beside a JSON record).

The fit: StandardScaler → PCA (``n_components``) on the training trials' flattened responses,
then per embedding dimension the alpha of ``alphas`` with the lowest mean validation MSE over
``folds`` contiguous folds of the training trials (trials in recording order, so a fold is a
block of runs: adjacent trials, whose slow BOLD responses overlap, rarely straddle a fold), and a
refit on every training trial (:func:`bergforge.models.linear.ridge.fit_regression`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.atomic import load_npz, save_npz
from bergforge.errors import ConfigError, DataError
from bergforge.models.linear.fit import DEFAULT_ALPHAS
from bergforge.models.linear.matrix import FeatureMatrix
from bergforge.models.linear.pca import PCAModel, PCAOptions, fit_scaler_pca, transform
from bergforge.models.linear.ridge import check_alphas, fit_regression
from bergforge.models.linear.scaler import Scaler

SCALER, PCA, READOUT = "scaler.npz", "pca.npz", "readout.npz"


@dataclass(frozen=True)
class RidgeDecoderConfig:
    """The kind's settings (config ``models.ridge_decoder``)."""

    n_components: int = 500
    alphas: list[float] = field(default_factory=lambda: list(DEFAULT_ALPHAS))
    folds: int = 5
    seed: int = 0
    pca: dict[str, Any] = field(default_factory=dict)  # PCAOptions but n_components

    SECTION = "models.ridge_decoder"

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> RidgeDecoderConfig:
        known = {"n_components", "alphas", "folds", "seed", "pca"}
        unknown = sorted(set(settings or {}) - known)
        if unknown:
            raise ConfigError(
                f"{cls.SECTION}: unknown setting(s) {unknown}; expected some of {sorted(known)}"
            )
        cfg = cls(**(settings or {}))
        check_alphas(cfg.alphas)
        if cfg.folds < 2:
            raise ConfigError(f"{cls.SECTION}.folds = {cfg.folds}; expected at least 2")
        return cfg

    def pca_options(self) -> PCAOptions:
        return PCAOptions(n_components=self.n_components, **self.pca)


@dataclass
class RidgeDecoder:
    """A fitted decoder: scaler and PCA of the responses, then a linear readout per dimension."""

    scaler: Scaler
    pca: PCAModel
    coef: np.ndarray  # (dims, k)
    intercept: np.ndarray  # (dims,)
    alpha: np.ndarray  # (dims,)

    @property
    def n_inputs(self) -> int:
        return self.pca.n_features_in_

    @property
    def n_dims(self) -> int:
        return int(self.coef.shape[0])

    def predict(self, responses: FeatureMatrix, rows: np.ndarray, block_size: int = 8192):
        """Embeddings ``[len(rows), dims]`` (float32) decoded from ``rows`` of ``responses``."""
        if responses.shape[1] != self.n_inputs:
            raise DataError(
                f"responses have {responses.shape[1]} values per trial; the decoder was fitted "
                f"on {self.n_inputs}"
            )
        scores = transform(responses, rows, self.scaler, self.pca, block_size)
        return (scores @ self.coef.T + self.intercept).astype(np.float32)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.scaler.save(folder / SCALER)
        self.pca.save(folder / PCA)
        save_npz(folder / READOUT, coef=self.coef, intercept=self.intercept, alpha=self.alpha)

    @classmethod
    def load(cls, folder: Path) -> RidgeDecoder:
        readout = load_npz(folder / READOUT, ["coef", "intercept", "alpha"])
        decoder = cls(Scaler.load(folder / SCALER), PCAModel.load(folder / PCA), **readout)
        k = decoder.pca.n_components_
        if (
            decoder.coef.shape != (decoder.intercept.size, k)
            or decoder.alpha.size != decoder.n_dims
        ):
            raise DataError(
                f"{folder}: readout of shape {decoder.coef.shape} does not match "
                f"{k} components and {decoder.intercept.size} intercepts"
            )
        return decoder


def fit_ridge_decoder(
    responses: FeatureMatrix,
    embeddings: np.ndarray,
    train_rows: np.ndarray,
    cfg: RidgeDecoderConfig,
) -> RidgeDecoder:
    """Fit on ``train_rows`` of ``responses`` (``[trial, values]``) and the matching rows of
    ``embeddings`` (``[trial, dims]``, the target image's embedding per trial)."""
    train = np.asarray(train_rows, dtype=np.int64)
    y = np.asarray(embeddings, dtype=np.float64)
    if y.ndim != 2 or len(y) != responses.shape[0]:
        raise DataError(
            f"embeddings of shape {y.shape}; expected [trial, dims] with one row per trial "
            f"of the responses ({responses.shape[0]})"
        )
    if not np.all(np.isfinite(y[train])):
        raise DataError("the training trials' target embeddings are not all finite")
    if len(train) < cfg.folds:
        raise DataError(f"{len(train)} training trials; expected at least {cfg.folds} (folds)")
    fit = fit_scaler_pca(responses, train, None, cfg.pca_options(), cfg.seed)
    result = fit_regression(fit.train_scores, y[train], "ridge_cv", cfg.alphas, cfg.folds)
    return RidgeDecoder(fit.scaler, fit.pca, result.coef, result.intercept, result.alpha)
