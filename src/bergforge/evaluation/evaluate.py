"""Evaluate a subject's models on the test images: predictions, r, noise ceiling, % of ceiling.

Writes ``evaluation.npz`` and ``summary.json`` (docs/interfaces.md, evaluation) through
:func:`bergforge.evaluation.files.write_evaluation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.errors import DataError
from bergforge.evaluation.files import write_evaluation
from bergforge.evaluation.metrics import pearson_columns, percent_noise_ceiling
from bergforge.evaluation.noise_ceiling import (
    TestSummary,
    concatenate_summaries,
    noise_ceiling,
    summarize_test,
)
from bergforge.features.plan import feature_rows
from bergforge.preprocess.responses import PreparedResponses


def read_test_summary(responses: PreparedResponses) -> TestSummary:
    """Stream the prepared ``test`` array into its per-image summary."""
    n_images, n_reps = responses.shape("test")
    if n_images == 0 or n_reps == 0 or not responses.present("test").any():
        raise DataError(f"{responses.path}: no test repetitions; expected repeated test responses")
    parts = []
    for chunk in responses.chunks("test"):
        block = chunk.reshape(-1, n_reps, responses.n_targets)
        if np.isinf(block).any():
            raise DataError(f"{responses.path}/test contains infinite values; expected finite")
        parts.append(summarize_test(block))
    return concatenate_summaries(parts)


def evaluate_subject(
    responses: PreparedResponses,
    stimuli: pd.DataFrame,
    features: Any,
    model_dirs: dict[str, Path | str],
    out_dir: Path | str,
    kind: Any,
) -> dict[str, Any]:
    """Evaluate the models of ``model_dirs`` (split → folder) and write the evaluation files.

    Predictions come from ``kind`` (a feature-reading kind of the registry): its
    ``predict_features`` gives each split's responses to the test images' feature rows (a
    dataset-scope kind's for ``subject=`` the store's subject).
    """
    out_dir = Path(out_dir)
    summary = read_test_summary(responses)
    ncsnr, nc, n_reps = noise_ceiling(summary)
    observed = summary.mean
    if np.isnan(observed).any():
        raise DataError(f"{responses.path}: a test image has no repetitions at all")
    splits = list(model_dirs)
    rows = feature_rows(stimuli, "test", observed.shape[0])
    folders = [Path(model_dirs[s]) for s in splits]
    if getattr(kind, "scope", "subject") == "dataset":
        preds = kind.predict_features(folders, features, rows, subject=responses.subject)
    else:
        preds = kind.predict_features(folders, features, rows)
    corr = np.stack([pearson_columns(p, observed) for p in preds])
    singles = [i for i, s in enumerate(splits) if s.startswith("single-")]
    if singles:
        split_avg = pearson_columns(np.mean([preds[i] for i in singles], axis=0), observed)
    else:
        split_avg = np.full(observed.shape[1], np.nan)
    pnc = np.stack([percent_noise_ceiling(r, nc) for r in corr])
    shape = responses.target_shape
    arrays = {
        "splits": np.asarray(splits),
        "test_predictions": np.stack(preds).reshape(len(splits), -1, *shape).astype(np.float32),
        "correlation": corr.reshape(len(splits), *shape),
        "correlation_split_average": split_avg.reshape(shape),
        "ncsnr": ncsnr.reshape(shape),
        "noise_ceiling": nc.reshape(shape),
        "percent_noise_ceiling": pnc.reshape(len(splits), *shape),
        "n_test_repetitions": np.float64(n_reps),
    }
    report = {
        "subject": responses.subject,
        "modality": responses.modality,
        "n_test_images": int(observed.shape[0]),
        "n_test_repetitions": n_reps,
        "median_noise_ceiling": _median(nc),
        "median_correlation_split_average": _median(split_avg),
        "splits": {
            s: {
                "median_correlation": _median(corr[i]),
                "median_percent_noise_ceiling": _median(pnc[i]),
            }
            for i, s in enumerate(splits)
        },
    }
    write_evaluation(out_dir / "evaluation.npz", out_dir / "summary.json", arrays, report)
    return report


def _median(x: np.ndarray) -> float | None:
    finite = np.asarray(x)[np.isfinite(x)]
    return float(np.median(finite)) if finite.size else None
