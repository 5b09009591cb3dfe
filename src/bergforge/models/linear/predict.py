"""Loading a written encoding model and predicting responses of feature rows with it.

The reader of a ``linear`` model folder: :meth:`EncodingModel.load` for prediction,
:func:`read_model_arrays` for the raw arrays (BERG's export) and
:func:`bergforge.models.records.read_record` for ``model.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.atomic import load_npz
from bergforge.errors import DataError
from bergforge.models.folder_checksums import verify_model_folder
from bergforge.models.linear.matrix import FeatureMatrix, check_finite, iter_column_blocks
from bergforge.models.linear.pca import PCAModel
from bergforge.models.linear.scaler import Scaler
from bergforge.models.records import read_record


def read_model_arrays(path: Path | str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of one npz of a model folder (``scaler``/``pca``/``regression``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing model file {path}")
    verify_model_folder(path.parent)
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in keys if k not in data]
        if missing:
            raise DataError(f"{path} lacks {missing}; expected {list(keys)}")
        return {k: data[k] for k in keys}


@dataclass
class EncodingModel:
    """The files of one ``split-{split}/`` model folder."""

    scaler: Scaler
    pca: PCAModel
    coef: np.ndarray  # (T, k)
    intercept: np.ndarray  # (T,)
    alpha: np.ndarray  # (T,)
    meta: dict[str, Any]

    @classmethod
    def load(cls, folder: Path | str) -> EncodingModel:
        folder = Path(folder)
        meta_path = folder / "model.json"
        if not meta_path.is_file():
            raise DataError(f"encoding model {folder} is incomplete (no model.json)")
        verify_model_folder(folder)
        reg = load_npz(folder / "regression.npz", ["coef_", "intercept_", "alpha_"])
        model = cls(
            Scaler.load(folder / "scaler.npz"),
            PCAModel.load(folder / "pca.npz"),
            reg["coef_"],
            reg["intercept_"],
            reg["alpha_"],
            read_record(meta_path),
        )
        if model.coef.shape[1] != model.pca.n_components_:
            raise DataError(f"{folder}: regression and PCA disagree on the number of components")
        return model


def predict(
    features: FeatureMatrix, rows: np.ndarray, models: list[EncodingModel], block_size: int = 8192
) -> list[np.ndarray]:
    """Predicted responses (len(rows) × T, float64) of every model, in one pass over the features."""
    p = features.shape[1]
    for m in models:
        if m.scaler.n_features_in_ != p or m.pca.n_features_in_ != p:
            raise DataError(
                f"model expects {m.pca.n_features_in_} features; the feature matrix has {p}"
            )
    rows = np.asarray(rows, dtype=np.int64)
    scores = [np.zeros((len(rows), m.pca.n_components_)) for m in models]
    for start, stop, raw in iter_column_blocks(features, rows, block_size):
        check_finite(raw, start)
        for m, s in zip(models, scores, strict=True):
            x = m.scaler.transform_block(start, stop, raw) - m.pca.mean_[start:stop]
            s += x.astype(np.float64) @ m.pca.components_[:, start:stop].T.astype(np.float64)
    return [
        s @ m.coef.T.astype(np.float64) + m.intercept for m, s in zip(models, scores, strict=True)
    ]
