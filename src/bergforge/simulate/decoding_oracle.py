"""The oracle of a simulated decoding study: how well a decoder could retrieve with no noise.

A simulated subject's noise-free responses are linear in the driving latents ``d(z)`` of the
image (:mod:`bergforge.simulate.bold5000`; maps of full rank), so a linear decoder fitted on
noise-free responses can at best predict what the least-squares regression of the target
embeddings on ``[1, d(z)]`` over the training images predicts. The oracle is the retrieval of
those predictions among the test images' embeddings (one query per test image: the noise-free
responses of its presentations are the same), with the metrics of
:mod:`bergforge.evaluation.retrieval`. It is the retrieval of a least-squares linear decoder
(``ridge_decoder`` with vanishing noise and alpha), not a bound on retrieval itself: a decoder
trained for retrieval (the CLIP loss of ``fmri_mlp``) weighs the embedding's directions by how
they separate candidates, not by their variance, and can rank better (measured on the simulated
study of ``make demo-extra``, linear truth: this oracle 86.7 % top-5, ``fmri_mlp`` 97.1 %,
subject-agg, 113 candidates; README, "make demo-extra").

:func:`write_oracle` is rule ``decoding_oracle``'s job: the study's driving latents from its
subjects' ground-truth files, the embeddings from the features of a backbone, the split from
``stimuli.tsv``, the result as ``oracle.json`` with ``retrieval.json``'s metric names.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.atomic import save_json
from bergforge.errors import DataError
from bergforge.evaluation.retrieval import AGGREGATIONS, RankSummary, ranks, scores, summarise
from bergforge.evaluation.retrieval_chance import chance_levels
from bergforge.features.image_rows import feature_rows_of, image_embeddings

log = logging.getLogger(__name__)


def oracle_retrieval(
    embeddings: np.ndarray, driving: np.ndarray, train: np.ndarray, test: np.ndarray
) -> RankSummary:
    """Retrieval of the linear oracle; rows of ``embeddings`` ``[image, dims]`` and ``driving``
    ``[image, latents]`` are the study's images, ``train``/``test`` their boolean masks."""
    e, d = np.asarray(embeddings, np.float64), np.asarray(driving, np.float64)
    train, test = np.asarray(train, bool), np.asarray(test, bool)
    if len(e) != len(d) or len(train) != len(e) or len(test) != len(e):
        raise DataError(
            f"embeddings ({len(e)} rows), driving latents ({len(d)}) and the masks "
            f"({len(train)}, {len(test)}); expected one row per image of the study"
        )
    if (train & test).any() or test.sum() < 2 or train.sum() <= d.shape[1] + 1:
        raise DataError(
            "expected disjoint training and test images, at least 2 test images and more "
            "training images than latents + 1"
        )
    x = np.column_stack([np.ones(len(d)), d])
    coef = np.linalg.lstsq(x[train], e[train], rcond=None)[0]
    predictions = x[test] @ coef
    candidates = e[test]
    rank = ranks(scores(predictions, candidates), np.arange(len(candidates)))
    return summarise(rank, len(candidates))


#: what oracle.json's aggregations mean (beside retrieval.json's names)
ORACLE_DEFINITIONS = {
    "oracle": (
        "retrieval by the least-squares regression of the target embeddings on [1, driving "
        "latents] over the study's training images (every image not in the test split), applied "
        "to the test images' driving latents: a linear decoder of noise-free responses"
    ),
    "aggregations": (
        "noise-free responses are the same for every presentation of an image and, decoded, for "
        "every subject (the driving latents are the study's): each aggregation has one query per "
        "test image and the same numbers"
    ),
    "rank": "zero-based rank of the true image among the candidates, ties averaged",
    "candidates": "the test images' target embeddings, L2-normalised",
    "normalised_rank": "mean over queries of 1 - rank / (n_candidates - 1); chance 0.5",
}


def study_driving_latents(truths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(image ids, driving latents ``[image, latent]``) of a simulated study from its subjects'
    ground-truth files; one error unless every subject records the same."""
    if not truths:
        raise DataError("no ground-truth file; expected one per simulated subject")
    found = []
    for path in truths:
        try:
            with np.load(path) as data:
                found.append((data["image_ids"].astype(str), data["driving_latents"]))
        except (OSError, KeyError, ValueError) as err:
            raise DataError(
                f"{path}: {err}; expected a simulated BOLD5000 subject's ground truth with "
                "image_ids and driving_latents"
            ) from err
    ids, driving = found[0]
    for path, (other_ids, other) in zip(truths[1:], found[1:], strict=True):
        if not (np.array_equal(ids, other_ids) and np.array_equal(driving, other)):
            raise DataError(
                f"{path}: driving latents differ from {truths[0]}'s; expected the subjects of "
                "one study (the same images and truth)"
            )
    return ids, np.asarray(driving, np.float64)


def write_oracle(
    truths: list[Path],
    stimuli: pd.DataFrame,
    features: Any,
    out: Path | str,
    labels: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``oracle.json``: the oracle's retrieval of the study whose subjects' ground truths
    are ``truths``, among the test images (``stimuli``'s ``split == "test"``) with ``features``
    (rows follow ``stimuli``) as the embeddings; returns the payload (retrieval.json's metric
    names, each aggregation the same block: :data:`ORACLE_DEFINITIONS`)."""
    ids, driving = study_driving_latents([Path(p) for p in truths])
    rows = feature_rows_of(stimuli, ids, "the ground truth")
    embeddings = image_embeddings(features, rows).astype(np.float64)
    split = stimuli["split"].astype(str).to_numpy()[rows]
    test = split == "test"
    summary = oracle_retrieval(embeddings, driving, ~test, test)
    chance = chance_levels(summary.n_candidates)
    log.info(
        "oracle: %d training images, %d test images, %d driving latents, %d embedding dims: "
        "top-1 %.4f, top-5 %.4f, top-10 %.4f (chance top-5 %.4f)",
        int((~test).sum()),
        summary.n_candidates,
        driving.shape[1],
        embeddings.shape[1],
        summary.top1,
        summary.top5,
        summary.top10,
        chance["top5"],
    )
    block = {"n_queries": summary.n_queries, **summary.metrics(), "chance": chance}
    payload = {
        **(labels or {}),
        "n_candidates": summary.n_candidates,
        "n_train_images": int((~test).sum()),
        "n_latents": int(driving.shape[1]),
        "candidate_images": ids[test].tolist(),
        "aggregations": {a: dict(block) for a in AGGREGATIONS},
        "chance": chance,
        "definitions": ORACLE_DEFINITIONS,
    }
    save_json(Path(out), payload, sort_keys=False)
    return payload
