"""Reading BERG weight dicts (pickled ``.npy``) into the linear part of an encoding model.

A weights dict holds ``scaler_param``, ``pca_param`` and ``reg_param``. MEG files hold one model;
EEG files hold ``rep-1 … rep-N`` PCA and regression entries that share one scaler. PCA entries may
be dicts, ``sklearn.utils.Bunch`` or objects with attributes (all three were published).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bergforge.errors import ModelLoadError
from bergforge.export.manifest import load_pickled_dict

__all__ = ["LinearReadout", "build_readout", "field", "load_pickled_dict", "repetition_keys"]


def field(params: object, name: str, where: str) -> np.ndarray:
    """``params[name]`` or ``params.name`` as an array; a missing field is a ModelLoadError."""
    if isinstance(params, dict) and name in params:
        return np.asarray(params[name])
    if not isinstance(params, dict) and hasattr(params, name):
        return np.asarray(getattr(params, name))
    raise ModelLoadError(f"{where} has no {name!r}")


@dataclass
class LinearReadout:
    """StandardScaler → PCA → linear regression, with the regression rows already selected."""

    scale_mean: np.ndarray
    scale: np.ndarray
    pca_mean: np.ndarray
    components: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Responses (batch, n_rows) float32 of features (batch, n_features)."""
        if features.shape[1] != self.scale_mean.shape[0]:
            raise ModelLoadError(
                f"the backbone gives {features.shape[1]} features but the model was fitted on "
                f"{self.scale_mean.shape[0]}"
            )
        x = (features.astype(np.float64) - self.scale_mean) / self.scale
        pcs = (x - self.pca_mean) @ self.components.T
        return (pcs @ self.coef.T + self.intercept).astype(np.float32)


def build_readout(
    scaler: object, pca: object, reg: object, rows: np.ndarray, where: str
) -> LinearReadout:
    """Assemble a readout from the three parameter sets, keeping only regression ``rows``."""
    components = field(pca, "components_", f"{where} pca_param").astype(np.float64)
    coef = field(reg, "coef_", f"{where} reg_param")
    intercept = field(reg, "intercept_", f"{where} reg_param")
    mean = field(scaler, "mean_", f"{where} scaler_param").astype(np.float64)
    if coef.ndim != 2 or coef.shape[1] != components.shape[0]:
        raise ModelLoadError(
            f"{where}: reg_param coef_ {coef.shape} does not match {components.shape[0]} PCA components"
        )
    if components.shape[1] != mean.shape[0]:
        raise ModelLoadError(
            f"{where}: pca_param components_ {components.shape} does not match the scaler's "
            f"{mean.shape[0]} features"
        )
    if rows.size and rows.max() >= coef.shape[0]:
        raise ModelLoadError(
            f"{where}: reg_param has {coef.shape[0]} rows but the metadata implies more targets"
        )
    pca_mean = field(pca, "mean_", f"{where} pca_param") if _has(pca, "mean_") else 0.0
    return LinearReadout(
        scale_mean=mean,
        scale=field(scaler, "scale_", f"{where} scaler_param").astype(np.float64),
        pca_mean=np.asarray(pca_mean, dtype=np.float64),
        components=components,
        coef=coef[rows].astype(np.float64),
        intercept=intercept[rows].astype(np.float64),
    )


def _has(params: object, name: str) -> bool:
    return name in params if isinstance(params, dict) else hasattr(params, name)


def repetition_keys(params: object, where: str) -> list[str]:
    """``rep-1 … rep-N`` of an EEG ``pca_param``/``reg_param`` dict (contiguous from 1)."""
    if not isinstance(params, dict) or not params:
        raise ModelLoadError(f"{where} must be a dict keyed 'rep-1' … 'rep-N'")
    expected = [f"rep-{k}" for k in range(1, len(params) + 1)]
    if sorted(params, key=str) != sorted(expected):
        raise ModelLoadError(f"{where} keys {sorted(params)} are not {expected}")
    return expected
