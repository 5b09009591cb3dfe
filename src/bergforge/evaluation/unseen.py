"""The unseen-subject evaluation: a held-out subject's test responses against the predictions of a
model trained without it (leave-one-subject-out), beside the subject's own linear model.

For a kind that predicts subjects it never saw (``unseen_subjects = True``; the ``shared`` kind:
:mod:`bergforge.models.shared.unseen`), ``predict_unseen`` gives the held-out subject's test
predictions of each method (``mean_adapter``; ``few_shot`` when on); they are scored with the same
r, noise-ceiling and percent-of-noise-ceiling code as every evaluation. The subject's own model
of the ``linear`` kind on the same backbone (split ``all``), when the dataset builds one, is read
from its ``evaluation.npz`` and written beside them as method ``own_linear``.

Files (``docs/interfaces.md``, "unseen-subject evaluation"), written by
:func:`bergforge.evaluation.files.write_evaluation`: ``unseen.npz`` and ``summary.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import ConfigError, DataError
from bergforge.evaluation.evaluate import read_test_summary
from bergforge.evaluation.files import read_evaluation, write_evaluation
from bergforge.evaluation.metrics import pearson_columns, percent_noise_ceiling
from bergforge.evaluation.noise_ceiling import noise_ceiling
from bergforge.features.plan import feature_rows
from bergforge.preprocess.responses import PreparedResponses

log = logging.getLogger(__name__)

#: the methods a kind predicts (in this order), then the subject's own model
METHODS = ("mean_adapter", "few_shot")
OWN = "own_linear"


def own_correlation(path: Path | str, shape: tuple[int, ...]) -> np.ndarray:
    """r per target of split ``all`` of a subject's own evaluation (``evaluation.npz``)."""
    arrays = read_evaluation(path, required=("splits", "correlation"))
    splits = [str(s) for s in arrays["splits"]]
    if "all" not in splits:
        raise DataError(f"{path}: no split 'all' (splits {splits}); expected the linear kind's")
    r = np.asarray(arrays["correlation"][splits.index("all")], dtype=np.float64)
    if r.shape != tuple(shape):
        raise DataError(
            f"{path}: correlation of shape {list(r.shape)}; the held-out subject's targets are "
            f"{list(shape)}"
        )
    return r.ravel()


def evaluate_unseen(
    kind: Any,
    request: Any,
    held_out: int,
    stimuli: Any,
    out_dir: Path | str,
    own_evaluation: Path | str | None = None,
) -> dict[str, Any]:
    """Evaluate ``kind``'s predictions for ``held_out`` (trained on the other subjects of
    ``request``) on its test images; write ``unseen.npz`` and ``summary.json`` into ``out_dir``
    (the training checkpoint lives there while it runs)."""
    out_dir = Path(out_dir)
    subjects = [int(s) for s in request.subjects]
    if int(held_out) not in subjects:
        raise ConfigError(
            f"held-out subject {int(held_out)} is not in the data; expected one of {subjects}"
        )
    responses = PreparedResponses(request.prepared[subjects.index(int(held_out))])
    summary = read_test_summary(responses)
    ncsnr, nc, n_reps = noise_ceiling(summary)
    observed = summary.mean
    if np.isnan(observed).any():
        raise DataError(f"{responses.path}: a test image has no repetitions at all")
    rows = feature_rows(stimuli, "test", observed.shape[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    result = kind.predict_unseen(request, int(held_out), rows, out_dir)
    predictions = [result.mean_adapter] + ([] if result.few_shot is None else [result.few_shot])
    methods = list(METHODS[: len(predictions)])
    corr = [pearson_columns(p, observed) for p in predictions]
    own_path = None if own_evaluation is None else Path(own_evaluation)
    if own_path is not None:
        corr.append(own_correlation(own_path, tuple(responses.target_shape)))
        methods.append(OWN)
    corr_arr = np.stack(corr)
    pnc = np.stack([percent_noise_ceiling(r, nc) for r in corr_arr])
    shape = tuple(responses.target_shape)
    arrays = {
        "methods": np.asarray(methods),
        "test_predictions": np.stack(predictions)
        .reshape(len(predictions), -1, *shape)
        .astype(np.float32),
        "correlation": corr_arr.reshape(len(methods), *shape),
        "percent_noise_ceiling": pnc.reshape(len(methods), *shape),
        "ncsnr": ncsnr.reshape(shape),
        "noise_ceiling": nc.reshape(shape),
        "covered": np.asarray(result.covered, dtype=bool).reshape(shape),
        "n_test_repetitions": np.float64(n_reps),
    }
    report = {
        "held_out_subject": int(held_out),
        "trained_subjects": [int(s) for s in result.trained_subjects],
        "modality": responses.modality,
        "n_test_images": int(observed.shape[0]),
        "n_test_repetitions": n_reps,
        "n_targets": int(nc.size),
        "n_targets_covered": int(np.count_nonzero(result.covered)),
        "median_noise_ceiling": _median(nc),
        "methods": {
            m: {
                "median_correlation": _median(corr_arr[i]),
                "median_percent_noise_ceiling": _median(pnc[i]),
            }
            for i, m in enumerate(methods)
        },
        "few_shot": None
        if result.few_shot is None
        else {
            "k": len(result.few_shot_image_ids),
            "image_ids": result.few_shot_image_ids,
            "alpha": result.few_shot_alpha,
            "leave_one_out_error": result.few_shot_loo,
        },
        "own_linear": None
        if own_path is None
        else {"evaluation": own_path.as_posix(), "split": "all"},
        "training": result.training,
        "settings": result.settings,
    }
    write_evaluation(out_dir / "unseen.npz", out_dir / "summary.json", arrays, report)
    log.info(
        "subject %d unseen: median r %s",
        held_out,
        {m: report["methods"][m]["median_correlation"] for m in methods},
    )
    return report


def _median(x: np.ndarray) -> float | None:
    finite = np.asarray(x)[np.isfinite(x)]
    return float(np.median(finite)) if finite.size else None
