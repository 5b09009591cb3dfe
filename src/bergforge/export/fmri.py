"""BERG export of the multi-head CNN8: weights, ``metadata/NSD/sub-XX.npy`` and names.

Layout (``research/berg.md`` §1c): ``modality-fmri/train_dataset-{name_in_berg}/model-CNN8_multihead_
subNSD_verticesAll/`` with ``encoding_models_weights/model-CNN8_framework-multihead_subjects-NSD_
vertices-all.pth`` (MOSAIC's checkpoint layout, so ``mosaic.from_pretrained`` loads it; heads
``sub-XX_NSD``; the input size is in the metadata under ``bergforge.training.config``), one metadata
dict per subject under ``metadata/NSD/`` and the plots in ``encoding_models_accuracy/``.

Interface decision: ``vertex_mapping_all`` lists the grayordinates the heads actually predict, in
head order: the 57,051 vertices of Glasser groups 1–22 for a full model, the simulated subset for
the demo. ``glasser_group_id`` follows it, and ``voxel_index`` selections have its length.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from bergforge.datasets.grayordinates import GrayordinateSpace, grayordinate_space
from bergforge.errors import DataError
from bergforge.evaluation.files import read_evaluation
from bergforge.evaluation.fmri_metadata import NOISE_CEILING_KEYS, subject_metadata
from bergforge.export.fmri_names import SOURCE_DATASET
from bergforge.models.records import read_record
from bergforge.preprocess.responses import PreparedResponses
from bergforge.preprocess.stimuli import read_stimuli


def model_space(vertices: np.ndarray) -> GrayordinateSpace:
    """The grayordinate space whose model vertices are ``vertices`` (91,282-space indices)."""
    space = grayordinate_space()
    vertices = np.asarray(vertices, dtype=np.int64)
    if vertices.ndim != 1 or not np.isin(vertices, space.vertex_mapping_all).all():
        raise DataError("model vertices must be grayordinates of the 57,051-vertex model space")
    return dataclasses.replace(space, vertex_mapping_all=vertices)


def export_weights(model_path: Path, out: Path) -> None:
    """Write the trained model in MOSAIC's checkpoint layout under its BERG name (atomically): the
    kind exported in that layout (the registry's ``cnn8``) writes its own weights."""
    from bergforge.models.registry import kind_for_layout

    kind_for_layout("mosaic").write_exported_weights(model_path, out)


def stimuli_info(store: Path, stimuli_tsv: Path) -> dict:
    """The card's ``stimuli`` dict: the subject's images, train/test indices and repetitions."""
    responses = PreparedResponses(store)
    stimuli = read_stimuli(stimuli_tsv)
    names, aliases, reps, split_of = [], [], [], []
    for split in ("train", "test"):  # own rows only, one Zarr chunk of images at a time
        seen, counts = [np.empty(0, np.int64)], []
        for r, v in responses.own_blocks(split):
            seen.append(r)
            counts += list((~np.isnan(v[:, :, 0])).sum(axis=1))
        rows = np.concatenate(seen)
        table = stimuli[stimuli["split"] == split].sort_values("index")
        names += list(table["image_id"].to_numpy(dtype=str)[rows])
        aliases += list(table["image_73k_id"].to_numpy()[rows])
        reps += counts
        split_of += [split] * rows.size
    split_of = np.asarray(split_of)
    filenames = np.asarray(names)
    return {
        "filenames": filenames,
        "alias": np.asarray(aliases, dtype=np.int64),
        "source": np.full(filenames.size, SOURCE_DATASET),
        "train_idx": np.flatnonzero(split_of == "train"),
        "test_idx": np.flatnonzero(split_of == "test"),
        "train_filenames": filenames[split_of == "train"],
        "test_filenames": filenames[split_of == "test"],
        "reps": np.asarray(reps, dtype=np.int64),
    }


def export_subject_metadata(
    evaluation: Path,
    store: Path,
    stimuli_tsv: Path,
    training_summary: Path,
    subject: int,
    dataset: str,
    out: Path,
) -> dict:
    """Write ``metadata/NSD/sub-XX.npy``: the card keys plus bergforge's accuracy/provenance."""
    from bergforge.export.berg import save_pickled_dict  # sklearn: slow to import

    ev = read_evaluation(evaluation)
    space = model_space(ev["vertices"])
    info = {"participant_id": f"sub-{subject:02d}", "age": None, "sex": None}
    metadata = subject_metadata(
        space,
        info,
        stimuli_info(store, stimuli_tsv),
        {k: ev[k] for k in NOISE_CEILING_KEYS},
    )
    metadata["bergforge"] = {
        "dataset": dataset,
        "subject": int(subject),
        "correlation": space.to_full(ev["correlation"]),
        "percent_noise_ceiling": space.to_full(ev["percent_noise_ceiling"]),
        "n_test_images": int(ev["test_predictions"].shape[0]),
        "n_test_repetitions": float(ev["n_test_repetitions"]),
        "training": read_record(training_summary),
    }
    save_pickled_dict(Path(out), metadata)
    return metadata
