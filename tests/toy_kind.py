"""``toy``: a tiny model kind outside the package, the worked example of adding one.

Least squares of the repetition-mean training responses on the first ``n_columns`` feature
columns plus an intercept, one model per subject (split ``all``); exported in bergforge's own
layout (``berg_layout = False``). Register it with the config entry ``model_kinds: {toy: toy_kind}``
(or ``BERG(root, model_kinds={"toy": "toy_kind"})``); this module must be importable as
``toy_kind`` wherever it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.atomic import load_npz, save_json, save_npz
from bergforge.errors import DataError
from bergforge.features.store import FeatureStore
from bergforge.models.kind import FitRequest
from bergforge.preprocess.responses import PreparedResponses
from bergforge.preprocess.stimuli import read_stimuli

#: feature columns the model reads unless ``settings["n_columns"]`` says otherwise
N_COLUMNS = 8


class ToyKind:
    """``weights.npz`` (``coef`` [n_columns, n_targets], ``intercept`` [n_targets]) + ``model.json``."""

    name = "toy"
    scope = "subject"
    inputs = "features"
    berg_layout = False
    fit_outputs = ("model.json", "weights.npz")

    def model_name(self, backbone: str | None) -> str:
        if not backbone:
            raise ValueError("the toy kind needs a backbone")
        return f"toy_{backbone}"

    def splits(self, modality: str) -> tuple[str, ...]:
        return ("all",)

    def fit(self, request: FitRequest, folder: Path) -> None:
        folder = Path(folder)
        n_columns = int(request.settings.get("n_columns", N_COLUMNS))
        store = PreparedResponses(request.prepared[0])
        n_images, n_reps = store.shape("train")
        images = np.flatnonzero(store.present("train").any(axis=1))  # drop images never shown
        y = np.empty((len(images), store.n_targets))
        for positions, block in store.batches("train", images, np.arange(n_reps)):
            y[positions] = block
        rows = train_rows(request.stimuli, n_images)[images]
        x = FeatureStore.open(request.features).read_columns(0, n_columns, rows)
        design = np.hstack([x.astype(np.float64), np.ones((len(rows), 1))])
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
        save_npz(folder / "weights.npz", coef=solution[:-1], intercept=solution[-1])
        save_json(
            folder / "model.json",
            {
                "kind": self.name,
                "split": request.split,
                "subject": int(request.subjects[0]),
                "n_columns": n_columns,
                "target_shape": list(store.target_shape),
                "train_image_indices": images.tolist(),
                "seeds": {},
            },
        )

    def predict_features(
        self, folders: list[Path], features: Any, rows: np.ndarray
    ) -> list[np.ndarray]:
        out = []
        for folder in folders:
            tensors, config = self.tensors(folder)
            x = features.read_columns(0, config["n_columns"], np.asarray(rows))
            out.append(self.from_tensors(tensors, config).predict(x))
        return out

    def tensors(self, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        weights = load_npz(Path(folder) / "weights.npz", ["coef", "intercept"])
        return weights, {"n_columns": int(weights["coef"].shape[0])}

    def from_tensors(self, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        return ToyPredictor(tensors["coef"], tensors["intercept"])


class ToyPredictor:
    """``features[:, :n_columns] @ coef + intercept``."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray):
        self.coef, self.intercept = coef, intercept

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)[:, : self.coef.shape[0]]
        return x @ self.coef + self.intercept


def train_rows(stimuli: Path, n_images: int) -> np.ndarray:
    """Row of stimuli.tsv (= feature row) of each training image, by its index in ``train``."""
    table = read_stimuli(stimuli)
    part = table[table["split"] == "train"]
    index = part["index"].to_numpy(dtype=np.int64)
    if not np.array_equal(np.sort(index), np.arange(n_images)):
        raise DataError(f"{stimuli}: training indices do not match {n_images} prepared images")
    rows = np.empty(n_images, dtype=np.int64)
    rows[index] = part.index.to_numpy(dtype=np.int64)
    return rows


KIND = ToyKind()
