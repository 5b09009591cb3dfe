"""The ``ridge_decoder`` kind: the classic linear decoder, a trial's response → image embedding.

One decoder per dataset × backbone, fitted on every subject's ``train`` trials pooled (the
trial-indexed stores, each trial flattened: ``[trial, vertex · tr]`` or ``[trial, channel ·
time]``): scaler → PCA → ``ridge_cv`` per embedding dimension
(:mod:`bergforge.models.ridge_decoder.model`). ``validation`` trials are not used (``ridge_cv``
chooses its alphas by its own folds of the training trials), ``test`` trials only by the
evaluation. Evaluated by image retrieval (rule ``evaluate_decoder``); exported by rule
``export_decoder`` (:mod:`bergforge.export.decoder_layout`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.kind import FitRequest

#: the one training split: one model for every subject
SPLITS: tuple[str, ...] = ("all",)


class RidgeDecoderKind:
    """``scaler.npz``, ``pca.npz``, ``readout.npz`` and ``model.json`` (written last) in
    ``results/models/{dataset}/ridge_decoder-{backbone}/``."""

    name = "ridge_decoder"
    task = "decode"
    scope = "dataset"
    inputs = "features"  # its targets: the backbone's embedding of each trial's image
    berg_layout = False
    resources = {"threads": 2}  # mem_mb and runtime: bergforge.workflow.resources (from sizes)
    fit_outputs = ("model.json", "scaler.npz", "pca.npz", "readout.npz")

    def model_name(self, backbone: str | None) -> str:
        if not backbone:
            raise ValueError("the ridge_decoder kind needs a backbone (its targets)")
        return f"ridge_decoder-{backbone}"

    def splits(self, modality: str) -> tuple[str, ...]:
        return SPLITS

    def fit(self, request: FitRequest, folder: Path) -> None:
        from bergforge.models.ridge_decoder.job import fit_ridge_decoder_job

        fit_ridge_decoder_job(request, Path(folder))

    def decode(self, folder: Path, responses: Any) -> np.ndarray:
        """Embeddings ``[trial, dims]`` of responses ``[trial, *target_shape]``."""
        from bergforge.models.decoding.record import check_responses
        from bergforge.models.linear.matrix import ArrayFeatures
        from bergforge.models.ridge_decoder.job import load_decoder

        decoder, record = load_decoder(folder)
        x = check_responses(responses, record, folder)
        flat = ArrayFeatures(x.reshape(x.shape[0], -1))
        return decoder.predict(flat, np.arange(x.shape[0]))


KIND = RidgeDecoderKind()
