"""The names of the fMRI (MOSAIC CNN8) model folder: its model name, weights file and metadata paths.

Light on purpose (no NumPy, no stores): the workflow's parse names the export's files through these,
the export that writes them and the API that reads them import them from here.
"""

from __future__ import annotations

from bergforge.export import layout

MODEL_NAME = "CNN8_multihead_subNSD_verticesAll"
WEIGHTS_NAME = "model-CNN8_framework-multihead_subjects-NSD_vertices-all.pth"
SOURCE_DATASET = "NSD"
DATASET_KEY = "NaturalScenesDataset"
DEFAULT_BERG_NAME = "mosaic"


def metadata_relpath(subject: int) -> str:
    """``metadata/NSD/sub-01.npy`` (relative to the model folder)."""
    return f"{layout.METADATA_DIR}/{SOURCE_DATASET}/sub-{subject:02d}.npy"


def weights_relpath() -> str:
    """``encoding_models_weights/model-CNN8_framework-…pth`` (relative to the model folder)."""
    return f"{layout.WEIGHTS_DIR}/{WEIGHTS_NAME}"
