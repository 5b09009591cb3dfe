"""The decoding split of a trial table: test images, validation runs, training trials.

neuralbench's ``PredefinedSplit`` (research/decoding.md §1.7), on a table with the columns
``subject``, ``session``, ``run`` and ``image``:

- **test**: every trial whose image is one of the test (repeated) images, its first presentation
  included;
- **validation**: the training trials of a fraction of the training runs ("timelines": one
  subject × session × run). The timelines are the unique ``(subject, session, run)`` of the
  training trials **in order of first appearance in the table** (as pandas' ``unique`` gives them;
  for a table in recording order that is the sorted order), and
  ``sklearn.model_selection.train_test_split(timelines, test_size=fraction, random_state=seed)``
  picks the validation ones: ``ceil(fraction × n)`` runs (sklearn rounds a fractional test size
  up). Test trials in those runs stay test;
- **train**: the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from bergforge.errors import DataError

TIMELINE = ("subject", "session", "run")


def training_timelines(table: pd.DataFrame, train: np.ndarray) -> list[tuple[int, int, int]]:
    """The unique (subject, session, run) of the rows ``train`` (bool), in order of first appearance."""
    rows = table.loc[train, list(TIMELINE)].drop_duplicates()
    return [tuple(int(v) for v in row) for row in rows.itertuples(index=False)]


def decoding_split(
    table: pd.DataFrame,
    test_images: Iterable[str],
    validation_fraction: float = 0.2,
    seed: int = 33,
) -> np.ndarray:
    """``train``/``validation``/``test`` for each row of ``table`` (an object array)."""
    missing = [c for c in (*TIMELINE, "image") if c not in table.columns]
    if missing:
        raise DataError(f"the trial table lacks columns {missing}; expected {[*TIMELINE, 'image']}")
    if not 0 < validation_fraction < 1:
        raise DataError(f"validation fraction {validation_fraction}; expected 0 < f < 1")
    test_images = set(test_images)
    test = table["image"].isin(test_images).to_numpy()
    if not test.any():
        raise DataError("no trial shows a test image; expected the test image ids of this table")
    timelines = training_timelines(table, ~test)
    if len(timelines) < 2:
        raise DataError(
            f"{len(timelines)} run(s) with training trials; expected at least 2 to hold some out"
        )
    from sklearn.model_selection import train_test_split  # 2 s: not at the Snakefile's parse

    _, held_out = train_test_split(
        np.arange(len(timelines)), test_size=validation_fraction, random_state=seed
    )
    chosen = pd.MultiIndex.from_tuples([timelines[i] for i in held_out], names=TIMELINE)
    in_chosen = pd.MultiIndex.from_frame(table[list(TIMELINE)].astype("int64")).isin(chosen)
    split = np.full(len(table), "train", dtype=object)
    split[in_chosen & ~test] = "validation"
    split[test] = "test"
    return split
