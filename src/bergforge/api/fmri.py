"""Loading the exported multi-head CNN8 (``fmri-…-CNN8_multihead_subNSD_verticesAll``) for BERG.

``subject`` is an int, a list of ints or ``"all"``; ``selection`` is MOSAIC's (``roi``,
``glasser_group``, ``voxel_index``; see :mod:`bergforge.api.fmri_selection`). Everything is checked
against the exported metadata before the weights are opened. With a selection, each head keeps
only the readout rows of the selected model vertices, so selecting makes encoding cheaper; the
output is still exactly the selected columns of the prediction expanded to 91,282 grayordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bergforge.api.fmri_selection import selected_grayordinates, validate_subjects
from bergforge.api.stimulus import stimulus_batches
from bergforge.api.weights import load_pickled_dict
from bergforge.datasets.grayordinates import N_GRAYORDINATES
from bergforge.errors import ModelLoadError
from bergforge.export.fmri import model_space
from bergforge.export.fmri_names import (
    DATASET_KEY,
    SOURCE_DATASET,
    metadata_relpath,
    weights_relpath,
)
from bergforge.export.manifest import ManifestGuard
from bergforge.models.registry import kind_for_layout

BATCH_SIZE = 32


def available_subjects(model_dir: Path) -> list[int]:
    """Subjects with a ``metadata/NSD/sub-XX.npy`` file."""
    found = []
    for path in (Path(model_dir) / "metadata" / SOURCE_DATASET).glob("sub-*.npy"):
        digits = path.stem.removeprefix("sub-")
        if digits.isdigit():
            found.append(int(digits))
    return sorted(found)


def _kind():
    """The kind exported in MOSAIC's layout (the registry's ``cnn8``): it builds the network."""
    return kind_for_layout("mosaic")


@dataclass
class FmriEncodingModel:
    """The CNN8 core, one (possibly sliced) head per subject, and how outputs are laid out."""

    model_id: str
    subjects: list[int]
    network: torch.nn.Module
    input_size: int
    device: str
    columns: dict[int, np.ndarray]  # per subject: 91,282-space index of each head output
    selection: np.ndarray | None  # sorted 91,282-space indices, or None (model space)
    metadata: dict[str, dict]

    def _layout(self, subject: int, pred: np.ndarray) -> np.ndarray:
        if self.selection is None:
            return pred
        full = np.full((pred.shape[0], N_GRAYORDINATES), np.nan, dtype=np.float32)
        full[:, self.columns[subject]] = pred
        return full[:, self.selection]

    @torch.no_grad()
    def generate_response(
        self, stimulus: np.ndarray, show_progress: bool = False
    ) -> dict[str, dict[str, np.ndarray]]:
        """``{"NaturalScenesDataset": {"sub-01": (batch, n_vertices) float32, …}}``."""
        parts: dict[int, list[np.ndarray]] = {s: [] for s in self.subjects}
        self.network.eval()
        for batch in stimulus_batches(stimulus, BATCH_SIZE, self.model_id, show_progress):
            x = _kind().model_input(torch.from_numpy(batch), self.input_size)
            feats = self.network.core(x.to(self.device))
            for s in self.subjects:
                parts[s].append(self.network.readouts[_kind().head_name(s)](feats).cpu().numpy())
        return {
            DATASET_KEY: {
                f"sub-{s:02d}": self._layout(s, np.concatenate(parts[s]).astype(np.float32))
                for s in self.subjects
            }
        }


def input_size(metadata: dict[int, dict]) -> int | None:
    """The model's input size recorded by bergforge's export (None: MOSAIC's 224)."""
    for meta in metadata.values():
        config = (meta.get("bergforge") or {}).get("training", {}).get("config", {})
        if "input_size" in config:
            return int(config["input_size"])
    return None


def load_fmri_model(
    model_dir: Path,
    model_id: str,
    subject: object,
    selection: dict | None,
    device: str,
    guard: ManifestGuard,
) -> FmriEncodingModel:
    """Validate subject and selection against the metadata, then load and slice the weights."""
    model_dir = Path(model_dir)
    subjects = validate_subjects(subject, available_subjects(model_dir))
    metadata = {s: load_pickled_dict(model_dir / metadata_relpath(s), guard) for s in subjects}
    columns, chosen = {}, []
    for s in subjects:
        try:
            columns[s] = np.asarray(metadata[s]["vertex_mapping_all"], dtype=np.int64)
        except KeyError:
            raise ModelLoadError(f"{metadata_relpath(s)} lacks 'vertex_mapping_all'") from None
        chosen.append(selected_grayordinates(selection, model_space(columns[s])))
    selected = chosen[0]
    if selected is not None and any(not np.array_equal(c, selected) for c in chosen):
        raise ModelLoadError(
            "the selection names different grayordinates for different subjects (their model "
            "vertices differ); select subjects one at a time"
        )
    weights = model_dir / weights_relpath()
    if not weights.is_file():
        raise ModelLoadError(f"model file not found: {weights}")
    guard.verify(weights)
    kind = _kind()
    network, config = kind.load_exported(
        weights, [kind.head_name(s) for s in subjects], input_size(metadata)
    )
    for s in subjects:
        head = network.readouts[kind.head_name(s)]
        if head.bias.numel() != columns[s].size:
            raise ModelLoadError(
                f"head {kind.head_name(s)} predicts {head.bias.numel()} vertices but its metadata maps "
                f"{columns[s].size}"
            )
        if selected is not None:
            keep = np.isin(columns[s], selected)
            network.readouts[kind.head_name(s)] = kind.slice_head(head, keep)
            columns[s] = columns[s][keep]
    return FmriEncodingModel(
        model_id=model_id,
        subjects=subjects,
        network=network.to(device).eval(),
        input_size=int(config["input_size"]),
        device=device,
        columns=columns,
        selection=selected,
        metadata={f"sub-{s:02d}": metadata[s] for s in subjects},
    )
