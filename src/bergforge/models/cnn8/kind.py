"""The ``cnn8`` kind: MOSAIC's multi-head CNN8 trained end to end on every subject of an fMRI
dataset; exported in MOSAIC's checkpoint layout by :mod:`bergforge.export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.kind import FitRequest

#: Folder of the model under ``results/models/{dataset}/`` (it reads images, not a backbone).
MODEL_NAME = "CNN8_multihead"
#: Readout heads are named after the NSD subject: ``sub-01_NSD``.
HEAD_SUFFIX = "_NSD"


def head_name(subject: int) -> str:
    """The readout head of an NSD subject (``sub-01_NSD``)."""
    return f"sub-{subject:02d}{HEAD_SUFFIX}"


class Cnn8Kind:
    """``model.pt`` and ``training.json`` (written last) of one multi-head model per dataset."""

    name = "cnn8"
    scope = "dataset"
    inputs = "images"
    berg_layout = True
    export_layout = "mosaic"  # BERG's layout this kind is exported in (bergforge.export)
    resources = {"threads": 2, "mem_mb": 4000, "runtime": 1440}
    fit_outputs = ("training.json", "model.pt")

    def model_name(self, backbone: str | None) -> str:
        return MODEL_NAME

    def splits(self, modality: str) -> tuple[str, ...]:
        return ("all",)

    def fit(self, request: FitRequest, folder: Path) -> None:
        import torch

        from bergforge.models.cnn8.job import train_cnn8_job

        torch.set_num_threads(max(1, request.threads))
        train_cnn8_job(
            request.stimuli,
            request.images,
            dict(zip(request.subjects, request.prepared, strict=True)),
            request.settings,
            Path(folder) / "model.pt",
            Path(folder) / "training.json",
            runtime={"threads": request.threads, **request.runtime},
        )

    def predict_images(
        self, folder: Path, subject: int, image_ids: np.ndarray, images: Path, device: str = "cpu"
    ) -> np.ndarray:
        """Predicted responses ``[len(image_ids), n_vertices]`` of one subject's head."""
        from bergforge.datasets.mosaic import NsdStimuli
        from bergforge.models.cnn8.checkpoint import load_multihead
        from bergforge.models.cnn8.streaming import StimulusImages
        from bergforge.models.cnn8.train import predict

        head = head_name(subject)
        model, config = load_multihead(Path(folder) / "model.pt", device, heads=[head])
        with NsdStimuli(images) as reader:  # images decoded per batch
            return predict(model, StimulusImages(reader, image_ids, config["input_size"]), head)

    def tensors(self, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from bergforge.models.cnn8.checkpoint import read_checkpoint

        state = read_checkpoint(Path(folder) / "model.pt")
        tensors = {k: v.numpy() for k, v in state["state_dict"].items()}
        return tensors, dict(state["config"])

    def from_tensors(self, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        raise NotImplementedError("cnn8 models load from MOSAIC's layout (bergforge.api.fmri)")


KIND = Cnn8Kind()
