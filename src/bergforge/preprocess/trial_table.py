"""The trial table of a trial-indexed prepared store: its columns, their kinds, their checks.

One row per trial, row ``k`` describing ``data[k]``. Required columns (:data:`REQUIRED`):
``subject``, ``session``, ``run`` (integers), ``image`` (the image id, a non-empty string),
``split`` (one of :data:`SPLITS`) and ``onset`` (finite seconds from the start of the run). A
format may add its own columns of four kinds: ``int``, ``float`` (NaN allowed), ``bool`` and
``str`` (no missing values). The store keeps one 1-D Zarr array per column (no pickles) and the
ordered ``[name, kind]`` list, so the table reads back as written. Used by the writer
(:mod:`bergforge.preprocess.trials_store`) and the reader
(:mod:`bergforge.preprocess.trial_responses`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bergforge.errors import DataError

#: What the ``layout`` attribute of a trial-indexed store says (an image-indexed store has none,
#: or ``"images"``), and the version of the trial layout
LAYOUT = "trials"
LAYOUT_VERSION = 1
#: The split of a trial: ``validation`` is held out of training for early stopping
SPLITS = ("train", "validation", "test")
#: Required columns and their kinds, in the order they are stored
REQUIRED = {
    "subject": "int",
    "session": "int",
    "run": "int",
    "image": "str",
    "split": "str",
    "onset": "float",
}
KINDS = ("int", "float", "bool", "str")
#: The numpy dtype each kind is stored as (``str``: Zarr's variable-length UTF-8 strings)
STORED_DTYPE = {"int": "int64", "float": "float64", "bool": "bool", "str": str}


def column_kind(values: pd.Series) -> str | None:
    """``int``, ``float``, ``bool`` or ``str`` for a column of that kind, else None."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype) and all(isinstance(v, str) for v in values):
        return "str"
    return None


def check_trial_table(
    table: pd.DataFrame, source: str, n_trials: int | None = None
) -> list[tuple[str, str]]:
    """The ``[(column, kind), …]`` of a valid trial table; one :class:`DataError` otherwise.

    Required columns first in :data:`REQUIRED` order, then the format's own columns in table
    order. ``source`` names the store in errors; ``n_trials`` (when known) must equal the rows.
    """
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{source}: the trial table must be a pandas DataFrame, got {type(table)}")
    names = [str(c) for c in table.columns]
    if len(set(names)) != len(names) or any(not isinstance(c, str) for c in table.columns):
        raise DataError(f"{source}: trial table columns must be unique strings, got {names}")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise DataError(
            f"{source}: trial table lacks columns {missing}; expected {list(REQUIRED)} "
            "plus the format's own columns"
        )
    if not len(table):
        raise DataError(f"{source}: the trial table is empty; expected at least one trial")
    if n_trials is not None and len(table) != n_trials:
        raise DataError(
            f"{source}: the trial table has {len(table)} rows for {n_trials} trials of data; "
            "expected one row per trial"
        )
    extra = [c for c in names if c not in REQUIRED]
    columns = []
    for name in [*REQUIRED, *extra]:
        if name.startswith(".") or "/" in name or not name or name == "zarr.json":
            raise DataError(
                f"{source}: trial table column {name!r}; expected a name without '/', a "
                "leading '.' or the name 'zarr.json' (each column is a Zarr array)"
            )
        kind = column_kind(table[name])
        if kind is None:
            raise DataError(
                f"{source}: trial table column {name!r} has dtype {table[name].dtype}; "
                f"expected one of {list(KINDS)} (strings without missing values)"
            )
        wanted = REQUIRED.get(name)
        if wanted is not None and kind != wanted and not (wanted == "float" and kind == "int"):
            raise DataError(f"{source}: trial table column {name!r} is {kind}; expected {wanted}")
        if kind in ("int", "bool") and table[name].isna().any():
            raise DataError(
                f"{source}: trial table column {name!r} ({kind}) has missing values; expected "
                "none (only float columns may hold NaN)"
            )
        if wanted == "float":
            kind = "float"  # integer onsets are stored as float seconds
        columns.append((name, kind))
    _check_values(table, source)
    return columns


def _check_values(table: pd.DataFrame, source: str) -> None:
    bad = ~table["split"].isin(SPLITS).to_numpy()
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: trial {k} has split {table['split'].iloc[k]!r}; expected one of {SPLITS}"
        )
    empty = (table["image"].str.len() == 0).to_numpy()
    if empty.any():
        raise DataError(f"{source}: trial {int(np.flatnonzero(empty)[0])} has an empty image id")
    onset = table["onset"].to_numpy(dtype=np.float64)
    if not np.isfinite(onset).all():
        k = int(np.flatnonzero(~np.isfinite(onset))[0])
        raise DataError(f"{source}: trial {k} has onset {onset[k]}; expected finite seconds")


def stored_values(values: pd.Series, kind: str) -> np.ndarray:
    """A column as the numpy array the store keeps."""
    if kind == "str":
        return np.asarray(values.tolist(), dtype=object)
    if kind == "float":
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return values.to_numpy(dtype=STORED_DTYPE[kind])


def table_from_columns(
    columns: dict[str, np.ndarray], kinds: list[tuple[str, str]]
) -> pd.DataFrame:
    """The trial table from stored columns (strings as pandas' default string dtype)."""
    data = {}
    for name, kind in kinds:
        values = columns[name]
        data[name] = values.astype(object) if kind == "str" else values.astype(STORED_DTYPE[kind])
    return pd.DataFrame(data)
