"""The ``simple_conv`` kind: neuralbench's MEG/EEG image decoder (``SimpleConvTimeAgg``),
windows ``[trial, channel, time]`` → image embedding.

One network per dataset × backbone (× seed), trained on every subject's trials pooled (the
trial-indexed stores of a THINGS-MEG1 / THINGS-EEG2 dataset with ``preprocess: {variant:
neuralbench}``) with the CLIP loss against the backbone's embedding of each trial's image,
AdamW + one-cycle, early stopping on the validation trials' in-batch top-5
(:mod:`bergforge.models.decoding.simple_conv_job`). Evaluated by image retrieval (rule
``evaluate_decoder``), exported by rule ``export_decoder``, like ``fmri_mlp``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.decoding.kind import TrainedDecoderKind
from bergforge.models.kind import FitRequest


class SimpleConvKind(TrainedDecoderKind):
    """``weights.safetensors`` and ``model.json`` (written last) in ``results/models/{dataset}/
    simple_conv-{backbone}/`` (``…_seed{seed}`` with a ``seeds`` list)."""

    name = "simple_conv"
    modalities = ("meg", "eeg")  # windows [trial, channel, time] with sensor positions

    def fit(self, request: FitRequest, folder: Path) -> None:
        from bergforge.models.decoding.simple_conv_job import fit_simple_conv

        fit_simple_conv(request, Path(folder))

    def decode(self, folder: Path, responses: Any) -> np.ndarray:
        """Embeddings ``[trial, dims]`` of windows ``[trial, channel, time]`` (on the CPU)."""
        from bergforge.models.decoding.simple_conv_weights import SimpleConvDecoder

        return SimpleConvDecoder.load(folder).decode(responses)


KIND = SimpleConvKind()
