"""The fixation table of a free-viewing study (``avs_fixations``): mapped, checked, never reordered.

One row per fixation, in the order of the subject's fixation-onset epochs. The challenge's own
column names are not known, so config maps every **required column** (:data:`REQUIRED`) to the
file's name for it (:class:`FixationTableSpec`) and declares the units:

==========  ====================================================================================
scene       NSD id of the scene (integer)
trial       the scene presentation (integer; its rows are consecutive)
fixation    index of the fixation within the trial (integers counting up by one)
onset       fixation onset from the start of the recording (``time_unit``: ``s`` or ``ms``)
duration    fixation duration (``time_unit``)
x, y        the fixation position (``position_unit``)
next_x/y    the next fixation of the trial (the saccade target); empty for a trial's last one
session     recording session (integer)
==========  ====================================================================================

Positions in ``pixels`` are scene-image pixels from its top-left corner (x: column, y: row); in
``degrees`` they are degrees of visual angle from the scene centre (x right, y down) and are
converted with the study's :class:`~bergforge.datasets.screen.ScreenGeometry`. The reader returns
the canonical columns in seconds and scene pixels, plus ``has_next`` (False on a trial's last
fixation, whose ``next_x``/``next_y`` are NaN).

Every problem is one :class:`~bergforge.errors.DataError` naming the file, the column or row and
what was expected: a missing column, a unit that does not fit the values (fixation durations
must have a median of 30 ms–2 s; positions declared in degrees may not exceed the scene's extent
several times over), a fixation outside the scene, rows of a trial out of order, and a table
whose rows do not match the epochs (:func:`check_against_epochs`). Nothing is ever sorted: the
table's order is the epochs' order or it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.datasets.screen import ScreenGeometry
from bergforge.errors import ConfigError, DataError

#: The canonical required columns, in the order the reader returns them
REQUIRED = (
    "scene",
    "trial",
    "fixation",
    "onset",
    "duration",
    "x",
    "y",
    "next_x",
    "next_y",
    "session",
)
INTEGER_COLUMNS = ("scene", "trial", "fixation", "session")
#: Seconds per unit of the time columns (onset, duration)
TIME_UNITS = {"s": 1.0, "ms": 1e-3}
POSITION_UNITS = ("pixels", "degrees")
#: The range the median fixation duration must fall in (seconds) for the declared time unit to fit
MEDIAN_DURATION_RANGE = (0.03, 2.0)
#: Positions declared in degrees beyond this many scene extents are taken for a unit mismatch
DEGREE_MISMATCH_FACTOR = 3.0
#: The columns that identify a fixation epoch (see :func:`check_against_epochs`)
EPOCH_KEYS = ("trial", "fixation")


@dataclass(frozen=True)
class FixationTableSpec:
    """How to read a fixation table: the column mapping (canonical → file), units and scene size.

    ``scene_size_px``: (width, height) of the scene image in pixels; ``geometry`` is needed when
    positions are in degrees. ``sep``: the field separator (``None``: tab for ``.tsv``, comma
    otherwise).
    """

    columns: Mapping[str, str]
    time_unit: str
    position_unit: str
    scene_size_px: tuple[int, int]
    geometry: ScreenGeometry | None = None
    sep: str | None = field(default=None)

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED if c not in self.columns]
        unknown = sorted(set(self.columns) - set(REQUIRED))
        if missing or unknown:
            raise ConfigError(
                f"fixation table columns: mapping lacks {missing} and has unknown {unknown}; "
                f"expected exactly one file column for each of {list(REQUIRED)}"
            )
        if len(set(self.columns.values())) != len(self.columns):
            raise ConfigError(
                f"fixation table columns: two required columns map to one file column in {dict(self.columns)}"
            )
        if self.time_unit not in TIME_UNITS:
            raise ConfigError(
                f"fixation table: time_unit {self.time_unit!r}; expected one of {list(TIME_UNITS)}"
            )
        if self.position_unit not in POSITION_UNITS:
            raise ConfigError(
                f"fixation table: position_unit {self.position_unit!r}; expected one of "
                f"{list(POSITION_UNITS)}"
            )
        if self.position_unit == "degrees" and self.geometry is None:
            raise ConfigError("fixation table: positions in degrees need the screen geometry")
        w, h = self.scene_size_px
        if not (int(w) > 0 and int(h) > 0):
            raise ConfigError(
                f"fixation table: scene_size_px {self.scene_size_px}; expected (width, height) > 0"
            )

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> FixationTableSpec:
        """From config: ``columns`` (mapping), ``time_unit``, ``position_unit``,
        ``scene_size_px`` ([width, height]), optional ``screen`` (:class:`ScreenGeometry` fields)
        and ``sep``."""
        known = {"columns", "time_unit", "position_unit", "scene_size_px", "screen", "sep"}
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ConfigError(
                f"fixation table: unknown keys {unknown}; expected some of {sorted(known)}"
            )
        screen = entry.get("screen")
        try:
            return cls(
                columns=dict(entry["columns"]),
                time_unit=entry["time_unit"],
                position_unit=entry["position_unit"],
                scene_size_px=tuple(int(v) for v in entry["scene_size_px"]),  # type: ignore[arg-type]
                geometry=None if screen is None else ScreenGeometry.from_config(screen),
                sep=entry.get("sep"),
            )
        except KeyError as err:
            raise ConfigError(f"fixation table: missing key {err.args[0]!r}") from None


def read_fixation_table(path: Path | str, spec: FixationTableSpec) -> pd.DataFrame:
    """The checked fixation table of ``path`` in canonical columns, seconds and scene pixels.

    Rows stay in file order; ``has_next`` is appended. One :class:`DataError` for any problem.
    """
    path = Path(path)
    sep = spec.sep or ("\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        raw = pd.read_csv(path, sep=sep)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"fixation table {path}: cannot be read ({err})") from None
    return canonical_table(raw, spec, str(path))


def canonical_table(raw: pd.DataFrame, spec: FixationTableSpec, source: str) -> pd.DataFrame:
    """The checks and conversions of :func:`read_fixation_table` on an already-loaded table."""
    source = f"fixation table {source}"
    absent = [(c, f) for c, f in spec.columns.items() if f not in raw.columns]
    if absent:
        canon, name = absent[0]
        raise DataError(
            f"{source}: column {name!r} (mapped to {canon!r}) is missing; the file has "
            f"{[str(c) for c in raw.columns]}"
        )
    if not len(raw):
        raise DataError(f"{source}: no rows; expected one row per fixation epoch")
    out = pd.DataFrame({c: raw[spec.columns[c]].to_numpy() for c in REQUIRED})
    for c in REQUIRED:
        _check_numeric(out, c, spec, source)
    for c in INTEGER_COLUMNS:
        out[c] = out[c].astype(np.int64)
    scale = TIME_UNITS[spec.time_unit]
    out["onset"] = out["onset"].astype(float) * scale
    out["duration"] = out["duration"].astype(float) * scale
    _check_durations(out, spec, source)
    _to_pixels(out, spec, source)
    nx, ny = out["next_x"].isna().to_numpy(), out["next_y"].isna().to_numpy()
    if (nx != ny).any():
        row = int(np.flatnonzero(nx != ny)[0])
        raise DataError(
            f"{source}: row {_where(out, row)}: only one of next_x/next_y is empty; expected both "
            "(a trial's last fixation) or neither"
        )
    out["has_next"] = ~nx
    _check_inside(out, spec, source)
    _check_order(out, source)
    return out


def _where(table: pd.DataFrame, row: int) -> str:
    """``row 5 (trial 2, fixation 3)``-style location of a data row."""
    return f"{row} (trial {table['trial'].iat[row]}, fixation {table['fixation'].iat[row]})"


def _check_numeric(out: pd.DataFrame, column: str, spec: FixationTableSpec, source: str) -> None:
    name = spec.columns[column]
    values = pd.to_numeric(out[column], errors="coerce")
    bad = values.isna() & out[column].notna()
    if column not in ("next_x", "next_y"):
        bad |= values.isna()
    if column in INTEGER_COLUMNS:
        bad |= values.notna() & (values != np.round(values))
    bad |= np.isinf(values.to_numpy(dtype=float))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        kind = "an integer" if column in INTEGER_COLUMNS else "a finite number"
        empty = " or empty" if column in ("next_x", "next_y") else ""
        raise DataError(
            f"{source}: column {name!r} ({column}) row {row} is {out[column].iat[row]!r}; "
            f"expected {kind}{empty}"
        )
    out[column] = values.astype(float)


def _check_durations(out: pd.DataFrame, spec: FixationTableSpec, source: str) -> None:
    durations = out["duration"].to_numpy()
    if (durations <= 0).any():
        row = int(np.flatnonzero(durations <= 0)[0])
        raise DataError(
            f"{source}: column {spec.columns['duration']!r} row {_where(out, row)} is "
            f"{durations[row]} s; expected a duration > 0"
        )
    median = float(np.median(durations))
    lo, hi = MEDIAN_DURATION_RANGE
    if not lo <= median <= hi:
        other = [u for u in TIME_UNITS if u != spec.time_unit][0]
        raise DataError(
            f"{source}: column {spec.columns['duration']!r} declared in {spec.time_unit!r} gives "
            f"a median fixation duration of {median:g} s; expected {lo:g}–{hi:g} s: is the time "
            f"unit {other!r}? (config time_unit)"
        )


def _to_pixels(out: pd.DataFrame, spec: FixationTableSpec, source: str) -> None:
    """Convert positions declared in degrees (from the scene centre) to scene pixels in place."""
    if spec.position_unit != "degrees":
        return
    geometry = spec.geometry
    assert geometry is not None
    w, h = spec.scene_size_px
    limit = DEGREE_MISMATCH_FACTOR * float(geometry.offset_deg(max(w, h) / 2))
    for column in ("x", "y", "next_x", "next_y"):
        values = out[column].to_numpy()
        far = np.abs(np.nan_to_num(values)) > limit
        if far.any():
            row = int(np.flatnonzero(far)[0])
            raise DataError(
                f"{source}: column {spec.columns[column]!r} declared in 'degrees' has "
                f"{values[row]:g} at row {_where(out, row)}, more than {limit:.3g}° "
                f"({DEGREE_MISMATCH_FACTOR:g}× the scene's half extent) from the centre: is the "
                "position unit 'pixels'? (config position_unit)"
            )
    for column, size in (("x", w), ("y", h), ("next_x", w), ("next_y", h)):
        out[column] = size / 2 + geometry.offset_px(out[column].to_numpy())


def _check_inside(out: pd.DataFrame, spec: FixationTableSpec, source: str) -> None:
    w, h = spec.scene_size_px
    for column, size in (("x", w), ("y", h), ("next_x", w), ("next_y", h)):
        values = out[column].to_numpy()
        outside = ~np.isnan(values) & ((values < 0) | (values > size))
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            hint = ""
            if spec.position_unit == "pixels" and (values < 0).mean() > 0.1:
                hint = "; many values are negative: are positions in degrees from the centre?"
            raise DataError(
                f"{source}: fixation outside the scene: column {spec.columns[column]!r} row "
                f"{_where(out, row)} is at {values[row]:.4g} px; expected 0–{size} px (scene "
                f"{w}×{h} px){hint}"
            )


def _check_order(out: pd.DataFrame, source: str) -> None:
    """Each trial's rows are consecutive, its fixations count up by one from its first, its scene
    is one scene, its onsets increase, and only its last fixation lacks a next target."""
    trial = out["trial"].to_numpy()
    starts = np.r_[True, trial[1:] != trial[:-1]]
    seen = trial[starts]
    if len(np.unique(seen)) != len(seen):
        dup = pd.Series(seen)[pd.Series(seen).duplicated()].iat[0]
        raise DataError(
            f"{source}: the rows of trial {dup} are not consecutive; expected each trial's "
            "fixations in one block (bergforge never reorders a table: fix the file's order)"
        )
    for column, rule in (
        ("fixation", lambda v, s: ~s & (np.diff(v, prepend=v[0]) != 1)),
        ("scene", lambda v, s: ~s & (np.diff(v, prepend=v[0]) != 0)),
        ("onset", lambda v, s: ~s & (np.diff(v, prepend=v[0]) <= 0)),
    ):
        values = out[column].to_numpy()
        bad = rule(values, starts)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            expected = {
                "fixation": "the previous row's fixation + 1 within a trial",
                "scene": "one scene per trial",
                "onset": "onsets increasing within a trial",
            }[column]
            raise DataError(
                f"{source}: row {_where(out, row)}: {column} is {values[row]} after "
                f"{values[row - 1]}; expected {expected} (never reordered)"
            )
    last = np.r_[starts[1:], True]
    has_next = out["has_next"].to_numpy()
    wrong = has_next == last
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        expected = "no next target (the trial's last fixation)" if last[row] else "a next target"
        raise DataError(f"{source}: row {_where(out, row)}: expected {expected} in next_x/next_y")


def check_against_epochs(
    table: pd.DataFrame,
    epochs: pd.DataFrame,
    source: str,
    keys: Sequence[str] = EPOCH_KEYS,
) -> None:
    """Refuse a fixation table whose rows are not the epochs', in count, ids and order.

    ``epochs``: one row per epoch in the epochs' order with the ``keys`` columns (e.g. the mapped
    metadata of an ``-epo.fif``). One :class:`DataError` naming the first difference; when the
    same fixations come in another order, it says so (bergforge never reorders either side).
    """
    missing = [k for k in keys if k not in epochs.columns or k not in table.columns]
    if missing:
        raise DataError(
            f"{source}: epochs or table lack the id columns {missing}; expected {list(keys)}"
        )
    if len(table) != len(epochs):
        raise DataError(
            f"{source}: the fixation table has {len(table)} rows for {len(epochs)} epochs; "
            "expected one row per epoch"
        )
    a = table[list(keys)].to_numpy(dtype=np.int64)
    b = epochs[list(keys)].to_numpy(dtype=np.int64)
    differ = (a != b).any(axis=1)
    if not differ.any():
        return
    row = int(np.flatnonzero(differ)[0])
    same_set = sorted(map(tuple, a.tolist())) == sorted(map(tuple, b.tolist()))
    hint = (
        "the same fixations in another order: bergforge never reorders, put the table in the "
        "epochs' order"
        if same_set
        else "the same fixations as the epochs"
    )
    ids = ", ".join(keys)
    raise DataError(
        f"{source}: row {row} is ({ids}) = {tuple(a[row].tolist())} but epoch {row} is "
        f"{tuple(b[row].tolist())}; expected {hint}"
    )
