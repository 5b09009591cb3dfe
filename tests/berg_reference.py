"""An independent reference for exported alexnet_untrained MEG/EEG models, written from BERG's facts.

Features: ``torch.manual_seed(20200220)``, ``torchvision.models.alexnet(weights=None)``,
``create_feature_extractor`` on BERG's eight nodes, each flattened and concatenated; images through
``AlexNet_Weights.IMAGENET1K_V1.transforms()``, either on the uint8 batch as a tensor (BERG's
loader) or on each image as PIL (BERG's trainer). Readout: scikit-learn ``StandardScaler``,
``PCA`` and ``LinearRegression`` objects whose attributes are set from the exported ``.npy`` dicts.
No bergforge code is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

BERG_NODES = [
    "features.2",
    "features.5",
    "features.7",
    "features.9",
    "features.12",
    "classifier.2",
    "classifier.5",
    "classifier.6",
]


def alexnet_features(images: np.ndarray, path: str, nodes: list[str] = BERG_NODES) -> np.ndarray:
    """float64 ``[image, feature]`` (205,672 for BERG's nodes) of uint8 ``[image, 3, H, W]``;
    ``path`` is ``tensor`` (BERG's loader) or ``pil`` (BERG's trainer)."""
    from torchvision.models import AlexNet_Weights, alexnet
    from torchvision.models.feature_extraction import create_feature_extractor

    torch.manual_seed(20200220)
    net = create_feature_extractor(alexnet(weights=None).eval(), return_nodes=nodes).eval()
    preset = AlexNet_Weights.IMAGENET1K_V1.transforms()
    if path == "tensor":
        batch = preset(torch.from_numpy(np.ascontiguousarray(images)))
    else:
        batch = torch.stack([preset(Image.fromarray(im.transpose(1, 2, 0))) for im in images])
    with torch.no_grad():
        out = net(batch)
    return torch.cat([out[n].flatten(1) for n in nodes], dim=1).double().numpy()


def _load(path: Path) -> dict:
    return np.load(path, allow_pickle=True).item()


def _get(params, key):
    return params[key] if isinstance(params, dict) else getattr(params, key)


def _predict(scaler_p, pca_p, reg_p, features: np.ndarray) -> np.ndarray:
    scaler = StandardScaler()
    for key in ("mean_", "scale_", "var_", "n_features_in_", "n_samples_seen_"):
        setattr(scaler, key, _get(scaler_p, key))
    pca = PCA(n_components=int(_get(pca_p, "n_components_")))
    for key in ("components_", "mean_", "explained_variance_", "n_components_", "n_features_in_"):
        setattr(pca, key, np.asarray(_get(pca_p, key)))
    # float64 as numpy promotes them against the float64 features anyway (and a mixed-dtype
    # product takes numpy's slow non-BLAS loop: seconds per call at 205,672 features)
    pca.components_ = pca.components_.astype(np.float64)
    pca.whiten = False
    reg = LinearRegression()
    reg.coef_ = np.asarray(reg_p["coef_"], dtype=np.float64)
    reg.intercept_ = np.asarray(reg_p["intercept_"], dtype=np.float64)
    reg.n_features_in_ = reg.coef_.shape[1]
    scaled = scaler.transform(features)
    return reg.predict(pca.transform(scaled))


def eeg_reference(model_dir: Path, subject: int, features: np.ndarray) -> np.ndarray:
    """``[image, rep, channel, time]`` of BERG's EEG layout (``weights_subject-XX.npy``)."""
    meta = _load(model_dir / "metadata" / f"metadata_subject-{subject:02d}.npy")
    shape = (len(meta["eeg"]["ch_names"]), len(meta["eeg"]["times"]))
    w = _load(model_dir / "encoding_models_weights" / f"weights_subject-{subject:02d}.npy")
    reps = [f"rep-{k}" for k in range(1, len(w["pca_param"]) + 1)]
    out = [
        _predict(w["scaler_param"], w["pca_param"][r], w["reg_param"][r], features) for r in reps
    ]
    return np.stack(out, axis=1).reshape(len(features), len(reps), *shape)


def meg_reference(
    model_dir: Path, subject: int, features: np.ndarray, train_splits: str
) -> np.ndarray:
    """``[image, (split,) sensor, time]`` of BERG's MEG layout for ``all`` or ``single``."""
    meta = _load(model_dir / "metadata" / f"metadata_P{subject}.npy")
    shape = (len(meta["sensors"]["sensor_regions"]), len(meta["meg"]["times"]))
    weights = model_dir / "encoding_models_weights"
    if train_splits == "all":
        names = [f"weights_P{subject}_all_training_splits.npy"]
    else:
        names = [f"weights_P{subject}_single_training_split_{k}.npy" for k in range(1, 5)]
    out = []
    for name in names:
        w = _load(weights / name)
        out.append(_predict(w["scaler_param"], w["pca_param"], w["reg_param"], features))
    stacked = np.stack(out, axis=1).reshape(len(features), len(names), *shape)
    return stacked[:, 0] if train_splits == "all" else stacked


def relative_max(got: np.ndarray, reference: np.ndarray) -> float:
    """max |got − reference| / max |reference|."""
    return float(np.abs(got - reference).max() / np.abs(reference).max())


def dataset_test_images(workdir: Path, dataset: str) -> np.ndarray:
    """uint8 ``[image, 3, H, W]`` of the test rows of a run's ``stimuli.tsv``, read with PIL."""
    table = pd.read_csv(workdir / f"results/prepared/{dataset}/stimuli.tsv", sep="\t")
    rows = table[table["split"] == "test"].sort_values("index")
    return np.stack(
        [
            np.asarray(Image.open(workdir / f).convert("RGB")).transpose(2, 0, 1)
            for f in rows["file"]
        ]
    )
