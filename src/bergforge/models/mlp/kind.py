"""The ``mlp`` kind: a small MLP (GELU, dropout, AdamW, early stopping) from the split's PCA
scores, or the raw features, to every target; one model per subject (split ``all``), any modality;
exported in bergforge's own layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.kind import FitRequest

#: the one training split, for every modality
SPLITS: tuple[str, ...] = ("all",)


class MlpKind:
    """``weights.safetensors`` and ``model.json`` (written last) in ``split-all/``."""

    name = "mlp"
    scope = "subject"
    inputs = "features"
    berg_layout = False
    seeded = True  # its settings take `seed`: a `seeds` list builds one model per seed
    resources = {"threads": 2}  # mem_mb and runtime: bergforge.workflow.resources (from sizes)
    fit_outputs = ("model.json", "weights.safetensors")

    def model_name(self, backbone: str | None) -> str:
        if not backbone:
            raise ValueError("the mlp kind needs a backbone")
        return f"mlp_{backbone}"

    def splits(self, modality: str) -> tuple[str, ...]:
        return SPLITS

    def fit(self, request: FitRequest, folder: Path) -> None:
        from bergforge.models.mlp.job import fit_mlp

        fit_mlp(request, Path(folder))

    def predict_features(
        self, folders: list[Path], features: Any, rows: np.ndarray
    ) -> list[np.ndarray]:
        from bergforge.models.mlp.weights import MlpPredictor, read_weights

        return [MlpPredictor(read_weights(f)).predict_rows(features, rows) for f in folders]

    def tensors(self, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from bergforge.models.mlp.weights import network_shape, read_weights

        tensors = read_weights(folder)
        shape = network_shape(tensors)
        config = {
            "input": "pca" if "pca.components_" in tensors else "features",
            "activation": "gelu",
            **shape,
        }
        return tensors, config

    def from_tensors(self, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        from bergforge.models.mlp.weights import MlpPredictor

        return MlpPredictor(tensors)


KIND = MlpKind()
