"""Challenge outputs of a held-out free-viewing subject (BrainEncoding26): checked, then written whole.

For subject ``nn`` (``sub-{nn:02d}``) the folder receives

- ``sub-{nn}_latency-{ms}ms.npy``: ``(n_fixations, 204)`` float32, the predicted gradiometer
  topography at the time point nearest the chosen latency (challenge 1);
- ``sub-{nn}_times.npy``: ``(n_fixations, 204, n_times)`` float32, every predicted time point
  (challenge 2);
- ``sub-{nn}_challenge.json``: the sidecar (:data:`FORMAT`): the fixation ids of every row
  (``scene``, ``trial``, ``fixation``, lists in row order), the channel names, the times (s), the
  latency chosen and the time used, the shapes, the model that predicted them and the SHA-256 of
  both ``.npy`` files.

Rows are the fixation table's rows, in its order (bergforge never reorders); channels are the 204
TRIUX planar gradiometers in :func:`~bergforge.datasets.sensors.triux_gradiometer_names`' order.
Both arrays are plain ``.npy`` (``np.save(..., allow_pickle=False)``).

Everything is checked before anything is written (one :class:`~bergforge.errors.DataError` per
problem, naming what was expected). The writer then removes the subject's old sidecar, writes each
file atomically (:func:`~bergforge.atomic.atomic_file`) and the sidecar **last**: the sidecar is
what marks a complete set, and :func:`read_challenge_outputs` refuses ``.npy`` files without a
sidecar whose checksums match them. A write that fails or is killed half-way therefore leaves
nothing that reads as complete.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.atomic import atomic_file
from bergforge.datasets.sensors import triux_gradiometer_names
from bergforge.errors import DataError, InvalidParameterError
from bergforge.store_checksums import sha256_file

#: The sidecar's format name and version (a reader refuses other names and newer versions)
FORMAT = {"name": "bergforge-challenge-outputs", "version": 1}
#: The table columns that identify a fixation row in the sidecar
ID_COLUMNS = ("scene", "trial", "fixation")
#: Rows per block when checking and casting large prediction arrays
BLOCK_ROWS = 1024
#: Slack (s) on "at most half a sample period away" and on comparing times, for float rounding
TIME_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ChallengeOutputs:
    """The verified outputs of one subject, as :func:`read_challenge_outputs` returns them."""

    subject: int
    at_latency: np.ndarray  # (n_fixations, 204) float32
    over_time: np.ndarray  # (n_fixations, 204, n_times) float32
    ids: pd.DataFrame  # scene, trial, fixation per row
    channels: list[str]
    times: np.ndarray  # (n_times,) seconds
    latency: float  # the latency asked for (s)
    time_used: float  # the time point of ``at_latency`` (s)
    model: dict[str, Any]
    sidecar: dict[str, Any]


def subject_prefix(subject: int) -> str:
    """``sub-{subject:02d}`` for a non-negative integer subject."""
    if isinstance(subject, bool) or not isinstance(subject, (int, np.integer)) or subject < 0:
        raise InvalidParameterError(f"subject {subject!r}; expected a non-negative integer")
    return f"sub-{int(subject):02d}"


def latency_label(latency: float) -> str:
    """The latency in milliseconds for a file name: ``0.11`` → ``110``, ``0.1105`` → ``110.5``."""
    ms = round(float(latency) * 1000.0, 3)
    return np.format_float_positional(ms, trim="-") if ms != 0 else "0"


def sidecar_path(folder: Path | str, subject: int) -> Path:
    """``folder/sub-{nn}_challenge.json``."""
    return Path(folder) / f"{subject_prefix(subject)}_challenge.json"


def write_challenge_outputs(
    folder: Path | str,
    table: pd.DataFrame,
    predictions: np.ndarray,
    channels: list[str],
    times: np.ndarray,
    latency: float,
    model: Mapping[str, Any],
    subject: int,
) -> dict[str, Path]:
    """Check the predictions against the fixation table, then write the subject's three files.

    ``table``: the canonical fixation table (:func:`~bergforge.datasets.avs_fixations.
    read_fixation_table`) of the held-out subject; ``predictions`` ``(n_fixations, 204, n_times)``
    in its row order; ``channels`` the 204 TRIUX gradiometer names in order; ``times`` (s),
    strictly increasing; ``latency`` (s) the time of challenge 1 (the nearest time point is used,
    the earlier of two equally near; it must lie within half a sample period); ``model`` a
    JSON-serialisable description of the model (dataset, backbone, route, stream, kind, trained
    subjects, …). Returns ``{"latency", "times", "sidecar"}`` → path. Nothing is written when a
    check fails; a subject's ``latency-*ms`` files of an earlier latency are removed once the new
    set is complete. Float32 ``predictions`` are written without a copy (others are cast whole).
    """
    folder = Path(folder)
    prefix = subject_prefix(subject)
    ids = _checked_ids(table)
    names = _checked_channels(channels)
    times = _checked_times(times)
    values = _checked_predictions(predictions, len(ids), len(names), len(times))
    index, used = _latency_index(times, latency)
    plain_model = _checked_model(model)

    paths = {
        "latency": folder / f"{prefix}_latency-{latency_label(latency)}ms.npy",
        "times": folder / f"{prefix}_times.npy",
        "sidecar": sidecar_path(folder, subject),
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths["sidecar"].unlink(missing_ok=True)  # the old set is incomplete from here on
    digests = {
        "latency": _save_npy(
            paths["latency"], np.ascontiguousarray(values[:, :, index], dtype=np.float32)
        ),
        "times": _save_npy(paths["times"], _as_float32(values)),
    }
    shapes = {"latency": [len(ids), len(names)], "times": [len(ids), len(names), len(times)]}
    sidecar = {
        "format": dict(FORMAT),
        "subject": int(subject),
        "n_fixations": len(ids),
        "fixations": {c: ids[c].tolist() for c in ID_COLUMNS},
        "channels": names,
        "times": [float(t) for t in times],
        "latency": {"chosen": float(latency), "used": used, "index": index},
        "files": {
            key: {
                "name": paths[key].name,
                "shape": shapes[key],
                "dtype": "float32",
                "sha256": digests[key],
            }
            for key in ("latency", "times")
        },
        "model": plain_model,
    }
    with atomic_file(paths["sidecar"]) as tmp, open(tmp, "w") as fh:
        json.dump(sidecar, fh, indent=2, sort_keys=True, allow_nan=False)
        fh.write("\n")
    for stale in folder.glob(f"{prefix}_latency-*ms.npy"):
        if stale != paths["latency"]:
            stale.unlink()
    return paths


def read_challenge_outputs(
    folder: Path | str, subject: int | None = None, table: pd.DataFrame | None = None
) -> ChallengeOutputs:
    """Read one subject's outputs back, verified; one :class:`DataError` for any problem.

    ``subject``: whose outputs (``None``: the folder's only sidecar). The sidecar must exist (an
    ``.npy`` without one is an incomplete set), be of :data:`FORMAT`, and both files must match
    its SHA-256, shapes and dtype; the latency file must equal the time series at the recorded
    index. With ``table``, the sidecar's fixation ids must be the table's, in its order.
    """
    folder = Path(folder)
    path = _find_sidecar(folder, subject)
    try:
        sidecar = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable JSON sidecar ({err})") from None
    fmt = sidecar.get("format") if isinstance(sidecar, dict) else None
    if not isinstance(fmt, dict) or fmt.get("name") != FORMAT["name"]:
        raise DataError(f"{path}: format {fmt!r}; expected name {FORMAT['name']!r}")
    if not isinstance(fmt.get("version"), int) or fmt["version"] > FORMAT["version"]:
        raise DataError(
            f"{path}: format version {fmt.get('version')!r}; this reader knows up to "
            f"{FORMAT['version']}"
        )
    try:
        arrays = {
            key: _load_verified(folder, path, sidecar["files"][key]) for key in ("latency", "times")
        }
        ids = pd.DataFrame(
            {c: np.asarray(sidecar["fixations"][c], dtype=np.int64) for c in ID_COLUMNS}
        )
        times = np.asarray(sidecar["times"], dtype=np.float64)
        index = int(sidecar["latency"]["index"])
        latency, used = float(sidecar["latency"]["chosen"]), float(sidecar["latency"]["used"])
        channels, model = list(sidecar["channels"]), dict(sidecar["model"])
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(
            f"{path}: sidecar lacks or mangles {err}; expected the keys of {FORMAT}"
        ) from None
    over_time, at_latency = arrays["times"], arrays["latency"]
    expected = (len(ids), len(channels), len(times))
    if over_time.shape != expected or at_latency.shape != expected[:2]:
        raise DataError(
            f"{path}: arrays {over_time.shape} and {at_latency.shape} for {len(ids)} fixations, "
            f"{len(channels)} channels and {len(times)} times; expected {expected} and {expected[:2]}"
        )
    if not (0 <= index < len(times)) or times[index] != used:
        raise DataError(f"{path}: latency index {index} does not point at the time used {used}")
    if not np.array_equal(at_latency, over_time[:, :, index]):
        raise DataError(
            f"{path}: the latency file is not the time series at index {index} ({used} s); "
            "expected one to be a slice of the other"
        )
    if table is not None:
        _match_table(ids, _checked_ids(table), path)
    return ChallengeOutputs(
        subject=int(sidecar["subject"]),
        at_latency=at_latency,
        over_time=over_time,
        ids=ids,
        channels=channels,
        times=times,
        latency=latency,
        time_used=used,
        model=model,
        sidecar=sidecar,
    )


# --------------------------------------------------------------------------------------- checks


def _checked_ids(table: pd.DataFrame) -> pd.DataFrame:
    """The table's (scene, trial, fixation) as int64, refused when absent, not integer or repeated."""
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"fixation table: a {type(table).__name__}; expected a pandas DataFrame")
    missing = [c for c in ID_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"fixation table: lacks the id columns {missing}; expected the canonical table's "
            f"{list(ID_COLUMNS)} (read_fixation_table)"
        )
    if not len(table):
        raise DataError("fixation table: no rows; expected one row per fixation")
    ids = {}
    for c in ID_COLUMNS:
        values = table[c].to_numpy()
        if not np.issubdtype(values.dtype, np.integer):
            raise DataError(
                f"fixation table: column {c!r} is {values.dtype}; expected integers (the canonical "
                "table's)"
            )
        ids[c] = values.astype(np.int64)
    frame = pd.DataFrame(ids)
    repeated = frame.duplicated(keep="first").to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise DataError(
            f"fixation table: row {row} repeats the fixation (scene, trial, fixation) = "
            f"{tuple(frame.iloc[row].tolist())}; expected every fixation id once"
        )
    return frame


def _checked_channels(channels: list[str]) -> list[str]:
    expected = triux_gradiometer_names()
    names = [str(c) for c in channels]
    if names == expected:
        return names
    if len(names) != len(expected):
        raise DataError(
            f"channels: {len(names)} names; expected the {len(expected)} TRIUX planar gradiometers "
            f"({expected[0]}, {expected[1]}, … {expected[-1]})"
        )
    row = next(i for i, (a, b) in enumerate(zip(names, expected, strict=True)) if a != b)
    order = " in another order" if sorted(names) == sorted(expected) else ""
    raise DataError(
        f"channels: position {row} is {names[row]!r}{order}; expected {expected[row]!r} (the TRIUX "
        "planar gradiometers in triux_gradiometer_names() order)"
    )


def _checked_times(times: np.ndarray) -> np.ndarray:
    values = np.asarray(times)
    if values.ndim != 1 or not len(values) or not np.issubdtype(values.dtype, np.number):
        raise DataError(
            f"times: shape {values.shape}, dtype {values.dtype}; expected a non-empty 1-D array of "
            "seconds"
        )
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise DataError(f"times: {bad} values NaN or inf; expected finite seconds")
    steps = np.diff(values)
    if (steps <= 0).any():
        k = int(np.flatnonzero(steps <= 0)[0])
        raise DataError(
            f"times: {values[k + 1]} s at index {k + 1} follows {values[k]} s; expected strictly "
            "increasing times"
        )
    return values


def _checked_predictions(
    predictions: np.ndarray, rows: int, channels: int, n_times: int
) -> np.ndarray:
    values = np.asarray(predictions)
    if values.ndim != 3:
        raise DataError(
            f"predictions: shape {values.shape}; expected 3-D (fixation, channel, time) = "
            f"{(rows, channels, n_times)}"
        )
    for axis, (size, expected, what) in enumerate(
        (
            (values.shape[0], rows, "the fixation table's rows (one per fixation, table order)"),
            (values.shape[1], channels, "the channels"),
            (values.shape[2], n_times, "the times"),
        )
    ):
        if size != expected:
            raise DataError(
                f"predictions: {size} entries on axis {axis} (shape {values.shape}); expected "
                f"{expected}, as many as {what}"
            )
    if not np.issubdtype(values.dtype, np.floating):
        raise DataError(f"predictions: dtype {values.dtype}; expected floating point")
    for start in range(0, rows, BLOCK_ROWS):
        block = values[start : start + BLOCK_ROWS]
        with np.errstate(over="ignore"):
            bad = ~np.isfinite(block) | ~np.isfinite(block.astype(np.float32))
        if bad.any():
            row, ch, t = (int(i[0]) for i in np.nonzero(bad))
            raise DataError(
                f"predictions: a value NaN, inf or beyond float32 at fixation row {start + row}, "
                f"channel {ch}, time {t}; expected finite float32 values"
            )
    return values


def _latency_index(times: np.ndarray, latency: float) -> tuple[int, float]:
    """The index of the time point nearest ``latency`` (the earlier of two) and its time."""
    try:
        latency = float(latency)
    except (TypeError, ValueError):
        raise DataError(f"latency {latency!r}; expected seconds") from None
    if not math.isfinite(latency):
        raise DataError(f"latency {latency}; expected finite seconds")
    index = int(np.argmin(np.abs(times - latency)))
    period = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    distance = abs(float(times[index]) - latency)
    if distance > period / 2 + TIME_TOLERANCE:
        raise DataError(
            f"latency {latency} s: the nearest time point is {times[index]} s, {distance:.6g} s away; "
            f"expected one within half a sample period ({period / 2:.6g} s) of times "
            f"{times[0]}…{times[-1]} s"
        )
    return index, float(times[index])


def _checked_model(model: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(model, Mapping) or not model:
        raise DataError(
            f"model: {model!r}; expected a non-empty mapping (dataset, backbone, route, stream, "
            "kind, trained subjects, …)"
        )
    plain = _plain(model, "model")
    try:
        json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise DataError(f"model: not strict JSON ({err}); expected plain values, no NaN") from None
    return plain


def _plain(value: Any, where: str) -> Any:
    """``value`` with numpy scalars/arrays and tuples made JSON's own types."""
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise DataError(f"{where}: key {bad[0]!r}; expected string keys")
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------------------- writing


def _as_float32(values: np.ndarray) -> np.ndarray:
    """``values`` as C-ordered float32 (no copy when it already is)."""
    return np.ascontiguousarray(values, dtype=np.float32)


def _save_npy(path: Path, array: np.ndarray) -> str:
    """Write ``array`` as a plain ``.npy`` atomically; returns its SHA-256."""
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        return sha256_file(tmp)


# ---------------------------------------------------------------------------------- reading


def _find_sidecar(folder: Path, subject: int | None) -> Path:
    if subject is not None:
        path = sidecar_path(folder, subject)
        if not path.is_file():
            leftovers = sorted(p.name for p in folder.glob(f"{subject_prefix(subject)}_*.npy"))
            raise DataError(_missing_sidecar(path, leftovers))
        return path
    found = sorted(folder.glob("sub-*_challenge.json"))
    if len(found) == 1:
        return found[0]
    if found:
        raise DataError(
            f"{folder}: sidecars of several subjects {[p.name for p in found]}; expected a subject"
        )
    leftovers = sorted(p.name for p in folder.glob("sub-*_*.npy"))
    raise DataError(_missing_sidecar(folder / "sub-XX_challenge.json", leftovers))


def _missing_sidecar(path: Path, leftovers: list[str]) -> str:
    if leftovers:
        return (
            f"{path}: missing, beside {leftovers}: the outputs are incomplete (a write failed or "
            "was interrupted); expected the sidecar that the writer writes last — rerun it"
        )
    return f"{path}: missing; expected the challenge outputs' sidecar"


def _load_verified(folder: Path, sidecar: Path, entry: Mapping[str, Any]) -> np.ndarray:
    """One ``.npy`` of the sidecar, refused unless its SHA-256, dtype and shape match."""
    name = str(entry["name"])
    path = folder / name
    if Path(name).name != name or not path.is_file() or path.is_symlink():
        raise DataError(f"{sidecar}: lists {name!r}, which is not a file in {folder}")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise DataError(
            f"{path}: SHA-256 {digest} differs from the sidecar's {entry['sha256']}; the file was "
            "changed or damaged after it was written (rerun the writer)"
        )
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a plain .npy array ({err})") from None
    if array.dtype != np.dtype(entry["dtype"]) or list(array.shape) != list(entry["shape"]):
        raise DataError(
            f"{path}: {array.dtype} {array.shape}; expected {entry['dtype']} {tuple(entry['shape'])}"
        )
    return array


def _match_table(ids: pd.DataFrame, expected: pd.DataFrame, path: Path) -> None:
    if len(ids) != len(expected):
        raise DataError(
            f"{path}: {len(ids)} fixations for a table of {len(expected)} rows; expected one per row"
        )
    differ = (ids.to_numpy() != expected.to_numpy()).any(axis=1)
    if differ.any():
        row = int(np.flatnonzero(differ)[0])
        raise DataError(
            f"{path}: row {row} is (scene, trial, fixation) = {tuple(ids.iloc[row].tolist())}; "
            f"expected the table's {tuple(expected.iloc[row].tolist())}"
        )
