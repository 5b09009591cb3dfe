"""Retrieval evaluation of a decoder (rule ``evaluate_decoder``): which test image did each test
trial show?

For one fitted decoding model (a kind with ``task = "decode"``, reached through the registry)
and every subject's trial-indexed store:

1. every ``test`` trial of every subject is decoded into an embedding (``kind.decode``, given
   the store's subject when the kind takes it: a model with subject layers);
2. the retrieval set is the test trials' target embeddings averaged per image (research note
   decoding.md §1.9; each trial's target is its image's feature row, so this is one embedding per
   distinct test image, pooled over subjects): ``N`` candidates;
3. :func:`bergforge.evaluation.retrieval.full_retrieval` ranks the true image in the four
   aggregations ``trial``, ``subject-agg``, ``instance-agg``, ``subject-ind``; every subject's
   own ``trial`` and ``subject-agg`` queries are summarised too (same candidates);
4. ``retrieval.npz`` (every query's rank, the predictions) then ``retrieval.json`` (the metrics,
   each aggregation with the chance levels of ``N`` candidates beside it) are written.

Metrics (zero-based ranks, ties averaged): ``top1``, ``top5``, ``top10``, ``median_rank``,
``mean_rank``, ``std_rank`` and ``normalised_rank`` = mean of 1 − rank/(N − 1) (1 = always
first, 0.5 = chance); docs/interfaces.md, "decoder evaluation".
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.atomic import save_json, save_npz
from bergforge.errors import DataError
from bergforge.evaluation.retrieval import (
    AGGREGATIONS,
    RankSummary,
    RetrievalSet,
    full_retrieval,
    summarise,
)
from bergforge.evaluation.retrieval_chance import chance_levels, describe
from bergforge.features.image_rows import feature_rows_of, image_embeddings
from bergforge.models.kind import decode_responses

log = logging.getLogger(__name__)

#: the aggregations summarised per subject as well (the others pool subjects)
PER_SUBJECT = ("trial", "subject-agg")
DEFINITIONS = {
    "rank": "zero-based rank of the true image among the candidates, ties averaged",
    "candidates": "the test images' target embeddings (averaged per image), L2-normalised",
    "normalised_rank": "mean over queries of 1 - rank / (n_candidates - 1); chance 0.5",
    "trial": "every test trial is a query",
    "subject-agg": "predictions averaged per (subject, image) first",
    "instance-agg": "predictions averaged per image over every trial and subject first",
    "subject-ind": "the trial metrics per subject, then averaged over subjects",
}


def test_trials(stores: list[Any]) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The test trials' table (every subject's, store by store; column ``store_row`` = the row in
    its store) and each store's test data."""
    tables, data = [], []
    for store in stores:
        table, values = store.read_split("test")
        if len(table) == 0:
            raise DataError(f"{store.label} has no test trials; expected the held-out trials")
        table = table.reset_index(names="store_row")
        tables.append(table)
        data.append(values)
    return pd.concat(tables, ignore_index=True), data


def _block(summary: RankSummary, chance: dict[str, float]) -> dict[str, Any]:
    return {"n_queries": summary.n_queries, **summary.metrics(), "chance": chance}


def evaluate_decoder(
    kind: Any,
    folder: Path | str,
    stores: list[Any],
    stimuli: pd.DataFrame,
    features: Any,
    retrieval_json: Path | str,
    ranks_npz: Path | str,
    labels: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Decode every subject's test trials with the model in ``folder``, rank the test images and
    write ``ranks_npz`` then ``retrieval_json`` (its payload is returned). ``features`` rows follow
    ``stimuli`` (checked by the caller); ``labels`` (dataset, model, kind, backbone, seed) are
    copied into the JSON."""
    table, data = test_trials(stores)
    predictions = np.concatenate(
        [
            decode_responses(kind, Path(folder), values, store.subject)
            for store, values in zip(stores, data, strict=True)
        ]
    )
    if predictions.shape[0] != len(table):
        raise DataError(
            f"the decoder gave {predictions.shape[0]} embeddings for {len(table)} test trials"
        )
    images = np.array(table["image"].tolist(), dtype=str)  # fixed-width: saved without pickles
    subjects = table["subject"].to_numpy(dtype=np.int64)
    rows = feature_rows_of(stimuli, images, "the test trials")
    targets = image_embeddings(features, rows)
    if predictions.ndim != 2 or predictions.shape[1] != targets.shape[1]:
        raise DataError(
            f"the decoder's embeddings have shape {predictions.shape}; expected "
            f"[trial, {targets.shape[1]}] (the backbone's feature size)"
        )
    candidates = RetrievalSet.from_trials(targets, images)
    results = full_retrieval(predictions, subjects, images, candidates)
    n = int(candidates.ids.size)
    chance = chance_levels(n)
    per_subject = {}
    for subject in np.unique(subjects):
        own = {}
        for aggregation in PER_SUBJECT:
            summary = results[aggregation]
            mask = summary.query_subjects == subject
            own[aggregation] = _block(summarise(summary.ranks[mask], n), chance)
        n_trials = int((subjects == subject).sum())
        per_subject[f"sub-{int(subject):02d}"] = {"n_test_trials": n_trials, **own}
    for aggregation in AGGREGATIONS:
        log.info("%s (%d candidates):", aggregation, n)
        for line in describe(results[aggregation]):
            log.info("  %s", line)
    arrays = {
        "candidate_images": candidates.ids.astype(str),
        "trial_subject": subjects,
        "trial_session": table["session"].to_numpy(dtype=np.int64),
        "trial_run": table["run"].to_numpy(dtype=np.int64),
        "trial_index": table["store_row"].to_numpy(dtype=np.int64),
        "trial_image": images,
        "trial_rank": results["trial"].ranks,
        "predictions": predictions.astype(np.float32),
        "subject_agg_subject": results["subject-agg"].query_subjects.astype(np.int64),
        "subject_agg_image": results["subject-agg"].query_images.astype(str),
        "subject_agg_rank": results["subject-agg"].ranks,
        "instance_agg_image": results["instance-agg"].query_images.astype(str),
        "instance_agg_rank": results["instance-agg"].ranks,
    }
    payload = {
        **(labels or {}),
        "n_candidates": n,
        "n_test_trials": len(table),
        "subjects": [int(s) for s in np.unique(subjects)],
        "candidate_images": candidates.ids.astype(str).tolist(),
        "aggregations": {a: _block(results[a], chance) for a in AGGREGATIONS},
        "per_subject": per_subject,
        "chance": chance,
        "definitions": DEFINITIONS,
    }
    save_npz(Path(ranks_npz), **arrays)
    save_json(Path(retrieval_json), payload, sort_keys=False)
    return payload


def read_retrieval(path: Path | str) -> dict[str, Any]:
    """``retrieval.json`` as written; one error if it is missing or not one."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
        if not all(a in payload["aggregations"] for a in AGGREGATIONS):
            raise KeyError("aggregations")
        return payload
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(
            f"{path}: not a decoder's retrieval.json ({err}); expected the file "
            "bergforge.evaluation.decoding.evaluate_decoder writes"
        ) from err
