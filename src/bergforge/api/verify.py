"""Check an exported model against the pipeline: encode the test images through the loader API and
compare with the evaluation stage's ``test_predictions`` (``results/evaluation/…/evaluation.npz``).

The API takes BERG's inference image path (the preset on the uint8 tensor) and the evaluation
predicted from features of the training path (PIL), so the two agree up to the difference of the
two image paths (``bergforge.features.image_paths``), not to float rounding."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from bergforge.api.berg import BERG
from bergforge.api.stimulus import SmallStimulusWarning
from bergforge.errors import DataError
from bergforge.evaluation.files import read_evaluation
from bergforge.export.layout import N_SINGLE_SPLITS, parse_model_id
from bergforge.preprocess.stimuli import read_stimuli


def load_test_images(stimuli_tsv: Path, workdir: Path) -> np.ndarray:
    """uint8 ``[image, 3, H, W]`` of the test rows of ``stimuli.tsv``, in array order."""
    table = read_stimuli(stimuli_tsv)
    rows = table[table["split"] == "test"].sort_values("index")
    if rows.empty:
        raise DataError(f"{stimuli_tsv} has no test images")
    arrays = []
    for f in rows["file"]:
        with Image.open(workdir / f) as img:
            arrays.append(np.asarray(img.convert("RGB")).transpose(2, 0, 1))
    return np.stack(arrays)


def relative_errors(
    berg_dir: Path, model_id: str, subject: int, evaluation: Path, stimuli_tsv: Path, workdir: Path
) -> dict[str, float]:
    """max |API − pipeline| / max |pipeline| per loaded variant (``all``/``single`` for MEG)."""
    berg = BERG(berg_dir)
    images = load_test_images(stimuli_tsv, workdir)
    ev = read_evaluation(evaluation, required=("splits", "test_predictions"))
    splits = [str(s) for s in ev["splits"]]
    preds = ev["test_predictions"]
    singles = [splits.index(f"single-{k}") for k in range(1, N_SINGLE_SPLITS + 1)]
    variants = {"single": np.stack([preds[i] for i in singles], axis=1)}
    if parse_model_id(model_id).modality == "meg" and "all" in splits:
        variants["all"] = preds[splits.index("all")]
    errors = {}
    for name, expected in variants.items():
        train_splits = name if parse_model_id(model_id).modality == "meg" else None
        model = berg.get_encoding_model(model_id, subject, train_splits=train_splits)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallStimulusWarning)
            out = berg.encode(model, images)
        errors[name] = float(np.abs(out - expected).max() / np.abs(expected).max())
    return errors
