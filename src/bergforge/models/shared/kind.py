"""The ``shared`` kind: one trunk (the ``mlp`` kind's hidden layers) fitted on every subject of a
dataset, a linear adapter per subject to its own targets; any modality; one model folder per
dataset × backbone; exported in bergforge's own layout (every subject's model in one file).
A subject left out of the training gets the mean adapter and, optionally, a few-shot fit
(:mod:`bergforge.models.shared.unseen`, evaluated by :mod:`bergforge.evaluation.unseen`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.kind import FitRequest

#: the one training split
SPLITS: tuple[str, ...] = ("all",)


class SharedKind:
    """``weights.safetensors`` and ``model.json`` (written last) in ``results/models/{dataset}/
    shared_{backbone}/``."""

    name = "shared"
    scope = "dataset"
    inputs = "features"
    berg_layout = False
    resources = {"threads": 2}  # mem_mb and runtime: bergforge.workflow.resources (from sizes)
    fit_outputs = ("model.json", "weights.safetensors")
    #: settings the fit does not read (only the unseen-subject evaluation): not fit-rule params
    fit_ignores = ("few_shot_k", "few_shot_alphas")
    #: it predicts subjects it never saw (leave-one-subject-out: ``predict_unseen``)
    unseen_subjects = True
    #: one trunk needs subjects to share it (config check: bergforge.workflow.models)
    min_subjects = 2

    def model_name(self, backbone: str | None) -> str:
        if not backbone:
            raise ValueError("the shared kind needs a backbone")
        return f"shared_{backbone}"

    def splits(self, modality: str) -> tuple[str, ...]:
        return SPLITS

    def fit(self, request: FitRequest, folder: Path) -> None:
        from bergforge.models.shared.job import fit_shared

        fit_shared(request, Path(folder))

    def predict_features(
        self, folders: list[Path], features: Any, rows: np.ndarray, subject: int | None = None
    ) -> list[np.ndarray]:
        """Responses of ``subject``'s model (its adapter on the shared trunk) in each folder."""
        from bergforge.errors import ConfigError
        from bergforge.models.mlp.weights import read_weights
        from bergforge.models.shared.weights import subject_predictor

        if subject is None:
            raise ConfigError("the shared kind predicts one subject: pass subject=")
        return [
            subject_predictor(read_weights(f), subject).predict_rows(features, rows)
            for f in folders
        ]

    def tensors(self, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from bergforge.models.mlp.weights import read_weights
        from bergforge.models.shared.weights import network_config

        tensors = read_weights(folder)
        return tensors, network_config(tensors)

    def from_tensors(self, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        """The predictor of ``config["subject"]`` (the API adds the subject it loads)."""
        from bergforge.errors import ModelLoadError
        from bergforge.models.shared.weights import subject_predictor

        if "subject" not in config:
            raise ModelLoadError("a shared model predicts one subject; its config names none")
        return subject_predictor(tensors, int(config["subject"]))

    def predict_unseen(
        self, request: FitRequest, held_out: int, rows: np.ndarray, workdir: Path
    ) -> Any:
        """Leave-one-subject-out predictions of ``held_out``'s feature-matrix ``rows``
        (:class:`bergforge.models.shared.unseen.UnseenPrediction`); ``request`` holds every
        subject's prepared store; the training checkpoint lives in ``workdir`` until the
        predictions are made."""
        from bergforge.models.mlp.data import check_split
        from bergforge.models.shared.job import CHECKPOINT, open_request
        from bergforge.models.shared.settings import SharedConfig
        from bergforge.models.shared.unseen import check_held_out, predict_unseen
        from bergforge.preprocess.responses import PreparedResponses

        check_split(request.split, "shared")
        check_held_out(list(request.subjects), held_out)
        cfg = SharedConfig.from_settings(request.settings, request.runtime)
        features, stimuli, device, threads = open_request(request, cfg.device, cfg.SECTION)
        stores = [PreparedResponses(p) for p in request.prepared]
        checkpoint = Path(workdir) / CHECKPOINT
        result = predict_unseen(
            stores, held_out, stimuli, features, cfg, rows, checkpoint, device, threads
        )
        checkpoint.unlink(missing_ok=True)  # the predictions are made: nothing to resume
        return result


KIND = SharedKind()
