"""The ``cnn8`` kind: MOSAIC's multi-head CNN8 trained end to end on every subject of an fMRI
dataset; exported in MOSAIC's checkpoint layout by :mod:`bergforge.export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.folder_checksums import verify_model_folder
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
    resources = {"threads": 2}  # mem_mb and runtime: bergforge.workflow.resources (from sizes)
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
        model_path = verify_model_folder(folder) / "model.pt"
        model, config = load_multihead(model_path, device, heads=[head])
        with NsdStimuli(images) as reader:  # images decoded per batch
            return predict(model, StimulusImages(reader, image_ids, config["input_size"]), head)

    # ------------------------------------------------------------ its exported (MOSAIC) layout

    def write_exported_weights(self, model_path: Path, out: Path) -> None:
        """``model.pt`` rewritten in MOSAIC's checkpoint layout at ``out`` (atomically)."""
        from bergforge.models.cnn8.checkpoint import read_checkpoint
        from bergforge.models.cnn8.mosaic_layout import to_mosaic
        from bergforge.models.cnn8.train import save_torch_atomic

        verify_model_folder(Path(model_path).parent)
        save_torch_atomic(to_mosaic(read_checkpoint(model_path)["state_dict"]), out)

    def load_exported(
        self, path: Path, heads: list[str], input_size: int | None = None, device: str = "cpu"
    ) -> tuple[Any, dict]:
        """The network (eval mode, only ``heads``) and its config from an exported checkpoint."""
        from bergforge.models.cnn8.checkpoint import load_multihead

        return load_multihead(path, device, heads=heads, input_size=input_size)

    def head_name(self, subject: int) -> str:
        return head_name(subject)

    def slice_head(self, head: Any, keep: np.ndarray) -> Any:
        """A readout with only the output rows ``keep`` (bool over the head's vertices)."""
        import torch

        from bergforge.models.cnn8.readout import SpatialXFeatureLinear

        rows = torch.from_numpy(np.flatnonzero(keep))
        channels, height, width = head.features.shape[1], *head.spatial.shape[1:]
        out = SpatialXFeatureLinear(channels, height, width, int(rows.numel()))
        with torch.no_grad():
            out.spatial.copy_(head.spatial[rows])
            out.features.copy_(head.features[rows])
            out.bias.copy_(head.bias[rows])
        return out

    def model_input(self, images: Any, size: int) -> Any:
        """The network's input (cropped, resized, normalised) from uint8 ``[n, 3, H, W]``."""
        from bergforge.models.cnn8.transform import to_model_input

        return to_model_input(images, size)

    def tensors(self, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from bergforge.models.cnn8.checkpoint import read_checkpoint

        state = read_checkpoint(verify_model_folder(folder) / "model.pt")
        tensors = {k: v.numpy() for k, v in state["state_dict"].items()}
        return tensors, dict(state["config"])

    def from_tensors(self, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        raise NotImplementedError("cnn8 models load from MOSAIC's layout (bergforge.api.fmri)")


KIND = Cnn8Kind()
