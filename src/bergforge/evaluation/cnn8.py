"""Evaluation of the multi-head CNN8 on one subject's test images, and its noise ceilings.

Accuracy: Pearson r per vertex over the subject's test images between the predictions and the
repetition-averaged betas. Noise ceilings (:mod:`bergforge.evaluation.fmri_metadata`): the card's six
``{test,train,artificial}_{n-avg,n-1}_noiseceiling`` arrays in the 91,282 space, each from that
split's repeated betas; ``artificial`` is all NaN when the dataset has no artificial images (the
demo and the NSD part of MOSAIC have none), so the key set stays the card's. Percent of noise
ceiling: ``100·max(r,0)²/(NC/100)`` against ``test_n-avg``.

Output ``evaluation.npz`` (pickle-free): ``vertices`` (91,282-space index of each model vertex),
``test_image_ids``, ``test_predictions`` [image, vertex], ``correlation`` [vertex], ``ncsnr``
[vertex] (test), ``noise_ceiling`` [vertex] (test n-avg, %), ``percent_noise_ceiling`` [vertex],
``n_test_repetitions``, and the six noise-ceiling arrays (91282,) under their card names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bergforge.datasets.grayordinates import N_GRAYORDINATES
from bergforge.errors import DataError
from bergforge.evaluation.files import write_evaluation
from bergforge.evaluation.fmri_metadata import NoiseMoments, noise_ceiling, noise_ceilings_91k
from bergforge.evaluation.metrics import pearson_columns, percent_noise_ceiling
from bergforge.evaluation.noise_ceiling import effective_repetitions
from bergforge.models.registry import get_kind
from bergforge.preprocess.responses import PreparedResponses
from bergforge.preprocess.stimuli import read_stimuli


def seen_rows(values: np.ndarray) -> np.ndarray:
    """Rows (images) of ``[image, rep, vertex]`` that the subject saw at least once."""
    return np.flatnonzero(~np.isnan(values).all(axis=(1, 2)))


def seen_test_moments(
    responses: PreparedResponses, n_vertices: int
) -> tuple[np.ndarray, np.ndarray, NoiseMoments]:
    """The test images the subject saw, their repetition means ``[image, vertex]`` and their noise
    moments, read one Zarr chunk of images at a time (never the whole ``test`` array)."""
    rows, means, moments = [], [], NoiseMoments(n_vertices)
    for block_rows, values in responses.own_blocks("test"):
        rows.append(block_rows)
        with np.errstate(invalid="ignore"):
            means.append(np.nanmean(values, axis=1))
        moments.add(values)
    if not rows:
        return np.empty(0, np.int64), np.empty((0, n_vertices), np.float32), moments
    return np.concatenate(rows), np.concatenate(means), moments


def split_noise_ceilings(
    responses: PreparedResponses, vertices: np.ndarray
) -> dict[str, np.ndarray]:
    """The six card noise ceilings (91282,) of a prepared store (artificial: NaN if absent)."""
    out = {}
    for split in ("test", "train", "artificial"):
        if responses.has(split):  # the subject's own rows, one Zarr chunk of images at a time
            moments = NoiseMoments(vertices.size)
            for _, values in responses.own_blocks(split):
                moments.add(values)
            out.update(noise_ceilings_91k(moments, vertices, split))
        else:
            for n in ("n-avg", "n-1"):
                out[f"{split}_{n}_noiseceiling"] = np.full(N_GRAYORDINATES, np.nan, np.float32)
    return out


def evaluate_subject(
    model_path: Path,
    store: Path,
    stimuli_tsv: Path,
    stimuli_file: Path,
    subject: int,
    device: str = "cpu",
    kind: str = "cnn8",
) -> dict[str, np.ndarray]:
    """Predictions, r, noise ceilings and percent of noise ceiling of one subject's test images.

    The predictions come from ``kind`` (an image-reading kind of the registry), whose model files
    sit beside ``model_path``.
    """
    responses = PreparedResponses(store)
    vertices = np.asarray(responses.attrs["vertices"], dtype=np.int64)
    rows, observed, moments = seen_test_moments(responses, vertices.size)
    if rows.size < 3:
        raise DataError(f"{store}: {rows.size} test images; need at least 3 for a correlation")
    stimuli = read_stimuli(stimuli_tsv)
    test_stimuli = stimuli[stimuli["split"] == "test"].sort_values("index")
    ids = test_stimuli["image_73k_id"].to_numpy()[rows]
    model = get_kind(kind)
    pred = model.predict_images(Path(model_path).parent, subject, ids, stimuli_file, device)
    if pred.shape[1] != vertices.size:
        raise DataError(
            f"the {kind} model of sub-{subject:02d} predicts {pred.shape[1]} vertices but {store} has "
            f"{vertices.size}"
        )
    r = pearson_columns(pred, observed)
    reps = moments.repetitions()
    snr = moments.ncsnr()
    nc = noise_ceiling(snr, reps)
    return {
        "vertices": vertices,
        "test_image_ids": test_stimuli["image_id"].to_numpy(dtype=str)[rows],
        "test_predictions": pred.astype(np.float32),
        "correlation": r.astype(np.float32),
        "ncsnr": snr.astype(np.float32),
        "noise_ceiling": nc.astype(np.float32),
        "percent_noise_ceiling": percent_noise_ceiling(r, nc).astype(np.float32),
        "n_test_repetitions": np.float64(effective_repetitions(reps)),
        **split_noise_ceilings(responses, vertices),
    }


def _median(x: np.ndarray) -> float | None:
    x = np.asarray(x, dtype=float)
    return round(float(np.nanmedian(x)), 4) if np.isfinite(x).any() else None


def summary(result: dict[str, np.ndarray]) -> dict:
    """Medians for model cards."""
    return {
        "n_vertices": int(result["vertices"].size),
        "n_test_images": int(result["test_predictions"].shape[0]),
        "n_test_repetitions": float(result["n_test_repetitions"]),
        "median_r": _median(result["correlation"]),
        "median_noise_ceiling": _median(result["noise_ceiling"]),
        "median_percent_noise_ceiling": _median(result["percent_noise_ceiling"]),
    }


def evaluate_cnn8_job(
    model_path: Path,
    store: Path,
    stimuli_tsv: Path,
    stimuli_file: Path,
    subject: int,
    evaluation_path: Path,
    summary_path: Path,
    device: str = "cpu",
    kind: str = "cnn8",
) -> None:
    """Write ``evaluation.npz`` and ``summary.json`` of one subject (the ``images`` layout)."""
    result = evaluate_subject(model_path, store, stimuli_tsv, stimuli_file, subject, device, kind)
    write_evaluation(evaluation_path, summary_path, result, summary(result), layout="images")
