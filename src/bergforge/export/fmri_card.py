"""Model card of the exported CNN8 multi-head model (BERG card style, Markdown like MEG/EEG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from bergforge._version import __version__
from bergforge.atomic import save_text
from bergforge.datasets.grayordinates import N_GROUPS
from bergforge.export import layout
from bergforge.export.cards import (
    describe_shapes,
    image_input,
    render_markdown,
)
from bergforge.export.fmri_names import DATASET_KEY, metadata_relpath
from bergforge.export.plot_files import fmri_plot_names as plot_names
from bergforge.safe_pickle import load_npy_item

REFERENCES = {
    "MOSAIC (Lahner et al., 2025)": "https://doi.org/10.64898/2025.11.28.690060",
    "Natural Scenes Dataset (Allen et al., 2022)": "https://doi.org/10.1038/s41593-021-00962-x",
    "Glasser MMP1.0 (Glasser et al., 2016)": "https://doi.org/10.1038/nature18933",
}


def _median(x) -> float | None:
    x = np.asarray(x, dtype=float)
    return round(float(np.nanmedian(x)), 4) if np.isfinite(x).any() else None


def _parameters(model_id: str, subjects: list[int], first: dict) -> dict:
    rois = sorted(first["roi"])
    n_model = int(np.asarray(first["vertex_mapping_all"]).size)
    return {
        "subject": {
            "type": "int | list[int] | str",
            "required": True,
            "description": "NSD subject(s): an int, a list of ints or 'all'.",
            "function": "get_encoding_model",
            "valid_values": subjects + ["all"],
            "example": subjects[0],
        },
        "selection": {
            "type": "dict",
            "required": False,
            "description": (
                "Vertices to return (union of keys); predictions are expanded to the 91,282 "
                "grayordinates (NaN where the model predicts nothing) and indexed. Without a "
                f"selection the output has the model's {n_model} vertices."
            ),
            "function": "get_encoding_model",
            "properties": {
                "roi": {
                    "type": "list[str]",
                    "description": "Glasser MMP1.0 regions, e.g. ['L_V1', 'R_V1'].",
                    "valid_values": rois,
                },
                "glasser_group": {
                    "type": "int | list[int]",
                    "description": "Glasser groups (sections).",
                    "valid_values": list(range(1, N_GROUPS + 1)),
                },
                "voxel_index": {
                    "type": "binary vector",
                    "description": f"{n_model} 0/1 entries over the model vertices "
                    "(vertex_mapping_all order).",
                },
            },
        },
        "device": {
            "type": "str",
            "required": False,
            "description": "Torch device for the CNN8.",
            "function": "get_encoding_model",
            "valid_values": ["auto", "cpu", "cuda"],
            "default": "auto",
        },
        "stimulus": {
            "type": "numpy.ndarray",
            "required": True,
            "description": "uint8 images [batch, 3, H, W], square.",
            "function": "encode",
        },
    }


def build_card(model_id: str, metadata_by_subject: dict[int, dict]) -> dict:
    """The YAML card of the fMRI model from the exported metadata of each subject."""
    subjects = sorted(metadata_by_subject)
    first = metadata_by_subject[subjects[0]]
    prov = first["bergforge"]
    training = prov.get("training", {})
    n_model = int(np.asarray(first["vertex_mapping_all"]).size)
    example = (
        "import numpy as np\n"
        "from bergforge import BERG\n\n"
        'berg = BERG("results/berg")\n'
        f'model = berg.get_encoding_model("{model_id}", subject="all",\n'
        '                                selection={"roi": ["L_V1", "R_V1"]})\n'
        "images = np.random.randint(0, 256, (10, 3, 224, 224), dtype=np.uint8)\n"
        "responses = berg.encode(model, images)  # {'NaturalScenesDataset': {'sub-01': ...}}\n"
        f'metadata = berg.get_model_metadata("{model_id}", subject={subjects[0]})\n'
    )
    return {
        "model_id": model_id,
        "modality": "fMRI",
        "training_dataset": "MOSAIC (NSD subjects)",
        "species": "Human",
        "stimuli": "Images",
        "model_type": "Brain-optimized CNN8 core with one factorized readout head per subject",
        "creator": f"bergforge {__version__}",
        "description": (
            "CNN8 (8 conv-BN-ReLU blocks) trained end to end on repetition-averaged GLMsingle betas "
            "of NSD subjects in the 91,282 HCP grayordinate space, with one spatial x feature "
            f"linear readout per subject predicting {n_model} vertices of Glasser groups 1-22. "
            "Built by bergforge from BOLD time series."
        ),
        "data": {
            "subjects": subjects,
            "n_model_vertices": n_model,
            "n_test_images": prov.get("n_test_images"),
            "n_test_repetitions": prov.get("n_test_repetitions"),
            "betas": "GLMsingle type D (FITHRF_GLMDENOISE_RR), z-scored per vertex and session",
        },
        "backbone": {"name": "CNN8", "training": "end to end with the readouts"},
        "mapping": {
            "framework": "multihead",
            "heads": [f"sub-{s:02d}_NSD" for s in subjects],
            "epochs": training.get("epochs"),
            "best_val_loss": training.get("best_val_loss"),
        },
        "accuracy": {
            f"sub-{s:02d}": {
                "median_r": _median(m["bergforge"]["correlation"]),
                "median_percent_noise_ceiling": _median(m["bergforge"]["percent_noise_ceiling"]),
                "median_test_n-avg_noiseceiling": _median(
                    m["noise_ceiling"]["test_n-avg_noiseceiling"]
                ),
            }
            for s, m in sorted(metadata_by_subject.items())
        },
        "input": image_input(),
        "output": {
            "type": "dict",
            "shape": {DATASET_KEY: {"sub-XX": ["batch_size", "n_vertices"]}},
            "description": (
                "float32 responses per subject: the model vertices without a selection, the "
                "selected grayordinates (NaN where the model predicts nothing) with one."
            ),
        },
        "parameters": _parameters(model_id, subjects, first),
        "metadata": describe_shapes(first),
        "performance": {
            "accuracy_plots": [
                f"{layout.ACCURACY_DIR}/{n}" for s in subjects for n in plot_names(s)
            ]
        },
        "example": example,
        "references": REFERENCES,
    }


def write_card(model_dir: Path, model_id: str, subjects: list[int]) -> tuple[Path, Path]:
    """Write ``model_card.yaml`` and ``model_card.md`` from the exported metadata."""
    model_dir = Path(model_dir)
    metadata = {s: load_npy_item(model_dir / metadata_relpath(s)) for s in subjects}
    card = build_card(model_id, metadata)
    yaml_path, md_path = model_dir / layout.CARD_YAML, model_dir / layout.CARD_MARKDOWN
    save_text(yaml_path, yaml.safe_dump(card, sort_keys=False, allow_unicode=True))
    save_text(md_path, render_markdown(card))
    return yaml_path, md_path
