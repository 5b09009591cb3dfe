"""``trials.tsv`` of a trial-indexed (decoding) dataset: every trial of every subject with the
task's split, the one table the per-subject windows and the stimulus table come from.

The one writer (:func:`write_study_trials`) and the one reader (:func:`read_study_trials`) of
``results/prepared/{dataset}/trials.tsv`` (``docs/interfaces.md``). Rows: subjects in increasing
order, each subject's trials in recording order. Columns (:data:`COLUMNS`): ``subject``,
``session``, ``run``, ``trial`` (1-based within the run), ``image`` (``stim_file``), ``img_type``
(``ImgType`` as in ``events.tsv``), ``onset`` and ``duration`` (s), ``split`` (``train``,
``validation`` or ``test``) and ``file`` (the image in the stimulus tree, relative to the working
directory). :func:`stimulus_rows` derives ``stimuli.tsv`` from it: one row per image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.atomic import atomic_file
from bergforge.errors import DataError
from bergforge.preprocess.trial_table import SPLITS

COLUMNS = (
    "subject",
    "session",
    "run",
    "trial",
    "image",
    "img_type",
    "onset",
    "duration",
    "split",
    "file",
)
INT_COLUMNS = ("subject", "session", "run", "trial")
FLOAT_COLUMNS = ("onset", "duration")
STR_COLUMNS = ("image", "img_type", "split", "file")


def write_study_trials(table: pd.DataFrame, out: Path | str) -> None:
    """Write ``table`` (the :data:`COLUMNS`, in that order) as ``out``, atomically."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"trial table for {out}: lacks column(s) {missing}; expected {COLUMNS}")
    with atomic_file(out) as tmp:
        table[list(COLUMNS)].to_csv(tmp, sep="\t", index=False)


def read_study_trials(path: Path | str) -> pd.DataFrame:
    """The study's trial table as written (strings as written, integers as int64, seconds as
    float64); a missing column, an empty table or an unknown split is one error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"trial table {path} not found")
    try:
        table = pd.read_csv(
            path,
            sep="\t",
            dtype={c: str for c in STR_COLUMNS},
            keep_default_na=False,
            na_values={c: [""] for c in FLOAT_COLUMNS},
        )
    except (pd.errors.ParserError, ValueError) as err:
        raise DataError(f"trial table {path}: cannot read it ({err})") from err
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing or table.empty:
        raise DataError(
            f"trial table {path}: {'no rows' if not missing else f'lacks column(s) {missing}'}; "
            f"expected one row per trial with columns {list(COLUMNS)}"
        )
    for column in INT_COLUMNS:
        if not pd.api.types.is_integer_dtype(table[column]):
            raise DataError(f"trial table {path}: column {column!r} is not integers")
    bad = ~table["split"].isin(SPLITS)
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"trial table {path}: row {k} has split {table['split'].iloc[k]!r}; expected one of "
            f"{SPLITS}"
        )
    return table.astype({c: "float64" for c in FLOAT_COLUMNS})[list(COLUMNS)]


def stimulus_rows(table: pd.DataFrame) -> pd.DataFrame:
    """``stimuli.tsv``'s rows of a study trial table: every image once, training images (those
    of ``train`` and ``validation`` trials) first, then test images, each in order of first
    appearance; ``index`` counts within the split, ``concept`` is empty, ``img_type`` is the
    stimulus folder's kind (``coco``, ``imagenet``, ``scenes``)."""
    first = table.drop_duplicates("image")
    split = np.where(first["split"].to_numpy() == "test", "test", "train")
    images = pd.DataFrame(
        {
            "image_id": first["image"].to_numpy(str),
            "split": split,
            "file": first["file"].to_numpy(str),
            "img_type": [t.removeprefix("rep_") for t in first["img_type"]],
        }
    )
    parts = []
    for name in ("train", "test"):
        part = images[images["split"] == name].reset_index(drop=True)
        part.insert(2, "index", np.arange(len(part)))
        part.insert(3, "concept", "")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
