"""``weights.safetensors`` of an ``mlp`` model folder: the one writer, the one reader, a predictor.

Tensors (float32 unless said):

- ``mlp.hidden.{i}.weight`` (H, n_in), ``mlp.hidden.{i}.bias``, ``mlp.out.weight`` (T, H),
  ``mlp.out.bias``: the network (:mod:`bergforge.models.mlp.network`);
- ``input.mean``, ``input.scale`` (n_in,): the network sees ``(x − mean) / scale``;
- ``target.mean``, ``target.scale`` (T,): its outputs are ``out · scale + mean``;
- with ``input = pca``, the split's scaler and PCA under the ``linear`` kind's names:
  ``scaler.mean_``, ``scaler.scale_``, ``scaler.var_`` (float64), ``scaler.n_samples_seen_``
  (int64, shape 1), ``pca.components_`` (k, p), ``pca.explained_variance_``,
  ``pca.explained_variance_ratio_``, ``pca.singular_values_`` (float64), ``pca.mean_``,
  ``pca.n_samples_`` (int64, shape 1), ``pca.noise_variance_`` (float64, shape 1).

The same tensors are exported in bergforge's own layout; :class:`MlpPredictor` predicts from
them with NumPy (float64; GELU as ``x Φ(x)``, PyTorch's exact form), reading PC scores with the
``linear`` kind's streaming transform.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

from bergforge.atomic import atomic_file
from bergforge.errors import DataError
from bergforge.models.folder_checksums import verify_model_folder
from bergforge.models.linear.matrix import ArrayFeatures, FeatureMatrix, check_finite
from bergforge.models.linear.pca import PCAModel, transform
from bergforge.models.linear.scaler import Scaler

WEIGHTS = "weights.safetensors"
#: feature columns per block when the PC scores are computed
BLOCK_SIZE = 8192


def write_weights(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write ``tensors`` as safetensors, atomically (same arrays → same bytes)."""
    from safetensors.numpy import save

    data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()})
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def read_weights(folder: Path | str) -> dict[str, np.ndarray]:
    """The tensors of a fitted model folder, after checking every file against its checksums."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    folder = verify_model_folder(Path(folder))
    path = folder / WEIGHTS
    try:
        return load(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as err:
        raise DataError(f"{path}: not a safetensors file ({err})") from err


def network_shape(tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """Input, hidden and output sizes and depth read from the tensors (one error if inconsistent)."""
    depth = 0
    while f"mlp.hidden.{depth}.weight" in tensors:
        depth += 1
    needed = ["mlp.out.weight", "mlp.out.bias", "input.mean", "input.scale"]
    needed += ["target.mean", "target.scale"]
    missing = [k for k in needed if k not in tensors]
    if depth == 0 or missing:
        raise DataError(f"mlp weights lack {missing or ['mlp.hidden.0.weight']}")
    n_in = int(tensors["mlp.hidden.0.weight"].shape[1])
    n_out, hidden = (int(n) for n in tensors["mlp.out.weight"].shape)
    if tensors["input.mean"].shape != (n_in,) or tensors["target.mean"].shape != (n_out,):
        raise DataError(
            f"mlp weights: input/target statistics {tensors['input.mean'].shape}, "
            f"{tensors['target.mean'].shape} do not match the network ({n_in} → {n_out})"
        )
    return {"n_inputs": n_in, "n_targets": n_out, "hidden": hidden, "depth": depth}


def gelu(x: np.ndarray) -> np.ndarray:
    """``x Φ(x)`` (PyTorch's ``gelu``, ``approximate='none'``)."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class MlpPredictor:
    """Responses of a fitted (or exported) ``mlp`` model: features → [PCA] → MLP → targets."""

    def __init__(self, tensors: dict[str, np.ndarray]):
        self.shape = network_shape(tensors)
        self.t = tensors
        self.scaler: Scaler | None = None
        self.pca: PCAModel | None = None
        if "pca.components_" in tensors:
            self.scaler = Scaler(
                tensors["scaler.mean_"],
                tensors["scaler.var_"],
                tensors["scaler.scale_"],
                int(tensors["scaler.n_samples_seen_"][0]),
            )
            self.pca = PCAModel(
                tensors["pca.components_"],
                tensors["pca.explained_variance_"],
                tensors["pca.explained_variance_ratio_"],
                tensors["pca.singular_values_"],
                tensors["pca.mean_"],
                int(tensors["pca.n_samples_"][0]),
                float(tensors["pca.noise_variance_"][0]),
            )
            if self.pca.n_components_ != self.shape["n_inputs"]:
                raise DataError("mlp weights: PCA components and network inputs disagree")

    @property
    def n_features(self) -> int:
        """Feature columns the model reads."""
        return self.pca.n_features_in_ if self.pca is not None else self.shape["n_inputs"]

    def inputs(self, features: FeatureMatrix, rows: np.ndarray) -> np.ndarray:
        """The network's inputs (PC scores or raw columns) of feature-matrix ``rows``."""
        if features.shape[1] != self.n_features:
            raise DataError(
                f"the mlp model expects {self.n_features} features; the feature matrix has "
                f"{features.shape[1]}"
            )
        rows = np.asarray(rows, dtype=np.int64)
        if self.pca is not None:
            return transform(features, rows, self.scaler, self.pca, BLOCK_SIZE)
        x = features.read_columns(0, features.shape[1], rows)
        check_finite(x, 0)
        return np.asarray(x, dtype=np.float64)

    def from_inputs(self, x: np.ndarray) -> np.ndarray:
        """Responses (n, T) float64 of network inputs ``x`` (n, n_in)."""
        t = self.t
        h = (np.asarray(x, dtype=np.float64) - t["input.mean"]) / t["input.scale"]
        for i in range(self.shape["depth"]):
            w, b = t[f"mlp.hidden.{i}.weight"], t[f"mlp.hidden.{i}.bias"]
            h = gelu(h @ w.T.astype(np.float64) + b)
        out = h @ t["mlp.out.weight"].T.astype(np.float64) + t["mlp.out.bias"]
        return out * t["target.scale"] + t["target.mean"]

    def predict_rows(self, features: FeatureMatrix, rows: np.ndarray) -> np.ndarray:
        """Responses of feature-matrix ``rows``."""
        return self.from_inputs(self.inputs(features, rows))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Responses of a dense feature matrix (images × features)."""
        matrix = ArrayFeatures(np.asarray(features, dtype=np.float32))
        return self.predict_rows(matrix, np.arange(matrix.shape[0]))
