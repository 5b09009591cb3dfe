"""Image embeddings by image id: the feature rows of given images (a decoder's targets).

The feature matrix's rows follow ``stimuli.tsv`` (checked here: a feature matrix of another
stimulus table is one error). A trial-indexed store names each trial's image by its id; a trial's
target embedding is the feature row of that id, every column of the backbone's features (all
its layers, in the matrix's column order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.errors import DataError


def check_rows_follow(stimuli: pd.DataFrame, features: Any, where: str) -> None:
    """One error unless the feature rows are the stimulus table's images in its order."""
    if list(stimuli["image_id"]) != list(features.image_ids):
        raise DataError(
            f"feature rows of {where} do not follow the stimulus table (image ids differ); "
            "expected features extracted from this dataset's stimuli.tsv"
        )


def feature_rows_of(stimuli: pd.DataFrame, image_ids: Sequence[str], source: str) -> np.ndarray:
    """The stimulus-table row (= feature row) of each image id; one error naming ``source`` (the
    store the ids come from) and the first ids that the table lacks."""
    position = pd.Index(stimuli["image_id"].astype(str))
    ids = pd.Index([str(i) for i in image_ids])
    rows = position.get_indexer(ids)
    if (rows < 0).any():
        missing = list(dict.fromkeys(ids[rows < 0]))
        raise DataError(
            f"{source}: {len(missing)} image id(s) are not in the stimulus table "
            f"(e.g. {missing[:5]}); expected every trial's image among stimuli.tsv's image_id"
        )
    return rows.astype(np.int64)


def image_embeddings(features: Any, rows: np.ndarray) -> np.ndarray:
    """Feature rows ``rows`` (repeats allowed) as float32 ``[len(rows), n_features]``; each
    distinct row is read once; non-finite values are an error."""
    rows = np.asarray(rows, dtype=np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    values = features.read_rows(unique) if unique.size else np.empty((0, features.shape[1]))
    values = np.asarray(values, dtype=np.float32)
    if not np.isfinite(values).all():
        bad = unique[~np.isfinite(values).all(axis=1)]
        raise DataError(
            f"feature rows {bad[:5].tolist()} hold NaN or infinite values; expected finite "
            "image embeddings"
        )
    return values[inverse.reshape(-1)]


def open_embeddings(
    stimuli_path: Path | str, features_path: Path | str
) -> tuple[pd.DataFrame, Any]:
    """(stimulus table, feature matrix) of a dataset × backbone, checked to match."""
    from bergforge.features.store import FeatureStore
    from bergforge.preprocess.stimuli import read_stimuli

    stimuli = read_stimuli(stimuli_path)
    features = FeatureStore.open(features_path)
    check_rows_follow(stimuli, features, str(features_path))
    return stimuli, features
