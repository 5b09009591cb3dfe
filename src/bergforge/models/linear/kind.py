"""The ``linear`` kind: StandardScaler → PCA → ``ols``/``ridge_cv`` per subject and split, any
modality; exported in BERG's linear layout (``.npy`` weight dicts) by :mod:`bergforge.export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.kind import FitRequest
from bergforge.models.linear.splits import SPLITS

#: The one training split of fMRI datasets (subjects see different images, one showing set).
FMRI_SPLITS: tuple[str, ...] = ("all",)


class LinearKind:
    """Scaler, PCA and regression files in ``split-{split}/`` (``model.json`` last)."""

    name = "linear"
    scope = "subject"
    inputs = "features"
    berg_layout = True
    export_layout = "berg_linear"  # BERG's layout this kind is exported in (bergforge.export)
    resources = {"threads": 2}  # mem_mb and runtime: bergforge.workflow.resources (from sizes)
    fit_outputs = ("model.json", "scaler.npz", "pca.npz", "regression.npz")

    def model_name(self, backbone: str | None) -> str:
        if not backbone:
            raise ValueError("the linear kind needs a backbone")
        return backbone

    def splits(self, modality: str) -> tuple[str, ...]:
        return FMRI_SPLITS if modality == "fmri" else SPLITS

    def fit(self, request: FitRequest, folder: Path) -> None:
        from bergforge.models.linear.job import encode_job

        encode_job(
            request.prepared[0],
            request.stimuli,
            request.features,
            request.split,
            request.settings,
            Path(folder) / "model.json",
            threads=request.threads,
            runtime=request.runtime,
        )

    def predict_features(
        self, folders: list[Path], features: Any, rows: np.ndarray
    ) -> list[np.ndarray]:
        from bergforge.models.linear.predict import EncodingModel, predict

        models = [EncodingModel.load(f) for f in folders]
        # read features in the column blocks the PCA was fitted with (memory only)
        block_size = int(models[0].meta.get("pca", {}).get("block_size", 8192))
        return predict(features, rows, models, block_size)

    def read_arrays(self, path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The arrays ``keys`` of one of its files (``scaler.npz``, ``pca.npz``, ``regression.npz``);
        the export writes them into BERG's weight dicts."""
        from bergforge.models.linear.predict import read_model_arrays

        return read_model_arrays(path, keys)

    def tensors(self, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from bergforge.models.linear.predict import EncodingModel

        m = EncodingModel.load(folder)
        tensors = {
            "scaler.mean": m.scaler.mean_,
            "scaler.scale": m.scaler.scale_,
            "pca.mean": m.pca.mean_,
            "pca.components": m.pca.components_,
            "regression.coef": m.coef,
            "regression.intercept": m.intercept,
        }
        return tensors, {"n_components": int(m.pca.n_components_)}

    def from_tensors(self, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        return _DensePredictor(tensors)


class _DensePredictor:
    """A linear model rebuilt from its tensors, predicting from a dense feature matrix."""

    def __init__(self, t: dict[str, np.ndarray]):
        self.t = t

    def predict(self, features: np.ndarray) -> np.ndarray:
        t = self.t
        x = (np.asarray(features, np.float64) - t["scaler.mean"]) / t["scaler.scale"]
        scores = (x - t["pca.mean"]) @ t["pca.components"].T.astype(np.float64)
        return scores @ t["regression.coef"].T.astype(np.float64) + t["regression.intercept"]


KIND = LinearKind()
