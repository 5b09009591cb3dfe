"""The ``fmri_mlp`` kind: neuralbench's fMRI image decoder, BOLD windows → image embedding.

One ``FmriMlp`` (:mod:`bergforge.models.decoding.network`) per dataset × backbone (× seed),
trained on every subject's trials pooled (the trial-indexed stores ``[trial, vertex, tr]``) with
the CLIP loss against the backbone's embedding of each trial's image, AdamW + one-cycle, early
stopping on the validation trials' in-batch top-5 (:mod:`bergforge.models.decoding.train`).
Evaluated by image retrieval (rule ``evaluate_decoder``), not by ``evaluate_subject``; exported
by rule ``export_decoder`` (:mod:`bergforge.export.decoder_layout`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.kind import FitRequest

#: the one training split: one model for every subject
SPLITS: tuple[str, ...] = ("all",)


class TrainedDecoderKind:
    """What the trained decoders (``fmri_mlp``, ``simple_conv``) share: one seeded model per
    dataset × backbone (``{name}-{backbone}``, ``…_seed{seed}`` with a ``seeds`` list), fitted on
    every subject's trials pooled, its files ``weights.safetensors`` and ``model.json``."""

    name: str
    modalities: tuple[str, ...]
    task = "decode"
    scope = "dataset"
    inputs = "features"  # its targets: the backbone's embedding of each trial's image
    berg_layout = False
    seeded = True  # its settings take `seed`: a `seeds` list builds one model per seed
    resources = {"threads": 2}  # mem_mb and runtime: bergforge.workflow.resources (from sizes)
    fit_outputs = ("model.json", "weights.safetensors")

    def model_name(self, backbone: str | None) -> str:
        if not backbone:
            raise ValueError(f"the {self.name} kind needs a backbone (its targets)")
        return f"{self.name}-{backbone}"

    def splits(self, modality: str) -> tuple[str, ...]:
        return SPLITS


class FmriMlpKind(TrainedDecoderKind):
    """``weights.safetensors`` and ``model.json`` (written last) in ``results/models/{dataset}/
    fmri_mlp-{backbone}/`` (``…_seed{seed}`` with a ``seeds`` list)."""

    name = "fmri_mlp"
    modalities = ("fmri",)  # windows [trial, vertex, tr]

    def fit(self, request: FitRequest, folder: Path) -> None:
        from bergforge.models.decoding.job import fit_fmri_decoder

        fit_fmri_decoder(self.name, request, Path(folder))

    def decode(self, folder: Path, responses: Any, subjects: Any = None) -> np.ndarray:
        """Embeddings ``[trial, dims]`` of windows ``[trial, vertex, tr]`` (on the CPU);
        ``subjects`` (each trial's subject number, or one for all) is needed by a model fitted
        with ``subject_layers`` and unused otherwise."""
        from bergforge.models.decoding.weights import FmriMlpDecoder

        return FmriMlpDecoder.load(folder, self.name).decode(responses, subjects)


KIND = FmriMlpKind()
