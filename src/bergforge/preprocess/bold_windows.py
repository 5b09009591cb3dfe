"""BOLD windows for decoding: clean each run, then cut a fixed window of TRs after every onset.

The recipe of neuralset's ``FmriExtractor`` (research/decoding.md §1.3):

- :func:`clean_run`: per run, remove each vertex's linear trend and z-score it (sample standard
  deviation, ``ddof=1``, as nilearn's ``standardize="zscore_sample"``).
- :func:`window_indices`: the window ``[onset + start, onset + start + duration)`` in samples, one
  rounding rule for both ends: start index ``round((onset + start) × f)`` and length
  ``round(duration × f)`` with ``f = 1 / tr`` and Python's ``round`` (halves to even). At TR 2 s the
  default window (2 s after onset, 7 s long) is round(3.5) = 4 TRs; at TR 1.5 s a 7 s window is 5
  TRs and a 5.7 s window 4 TRs.
- :func:`cut_windows`: the windows of one cleaned run, ``[trial, vertex, tr]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bergforge.errors import DataError

#: A vertex whose detrended series has a sample std at most this fraction of the series' largest
#: magnitude has no signal left (constant or exactly linear): it is set to 0, not NaN or noise.
FLAT_TOLERANCE = 1e-10


def clean_run(bold: np.ndarray, label: str = "run", ensure_finite: bool = False) -> np.ndarray:
    """Linearly detrend and z-score (ddof=1) each vertex of ``bold[vertex, time]``; float64.

    Vertices with no variation left after detrending (constant, e.g. outside the brain, or exactly
    linear; see :data:`FLAT_TOLERANCE`) become 0 rather than NaN. Non-finite values are an error
    naming ``label``, unless ``ensure_finite`` (nilearn's option) sets them to 0 first.
    """
    x = np.array(bold, dtype=np.float64)  # a copy: the caller's array is left as it was
    if x.ndim != 2 or x.shape[1] < 3:
        raise DataError(
            f"{label}: BOLD of shape {x.shape}; expected [vertex, time] with at least 3 TRs"
        )
    finite = np.isfinite(x)
    if not finite.all():
        if not ensure_finite:
            vertices = np.flatnonzero(~finite.all(axis=1))
            raise DataError(
                f"{label}: {len(vertices)} vertices have non-finite BOLD values (first: vertex "
                f"{int(vertices[0])}); expected finite values"
            )
        x[~finite] = 0.0
    scale = np.abs(x).max(axis=1)
    t = np.arange(x.shape[1], dtype=np.float64)
    t -= t.mean()
    x -= x.mean(axis=1, keepdims=True)
    x -= np.outer(x @ t / (t @ t), t)
    std = x.std(axis=1, ddof=1)
    flat = std <= FLAT_TOLERANCE * scale
    x[flat] = 0.0
    x[~flat] /= std[~flat, None]
    return x


def window_indices(
    onsets: Sequence[float] | np.ndarray, tr: float, start: float = 2.0, duration: float = 7.0
) -> tuple[np.ndarray, int]:
    """(start index of each onset's window, window length in TRs), neuralset's rounding rule."""
    if not (np.isfinite(tr) and tr > 0):
        raise DataError(f"TR {tr}; expected seconds > 0")
    frequency = 1.0 / tr
    length = round(duration * frequency)
    if length < 1:
        raise DataError(f"a {duration} s window at TR {tr} s has {length} TRs; expected ≥ 1")
    starts = np.array([round((float(o) + start) * frequency) for o in np.ravel(onsets)], dtype=int)
    return starts, length


def cut_windows(
    cleaned_run: np.ndarray,
    onsets: Sequence[float] | np.ndarray,
    tr: float,
    start: float = 2.0,
    duration: float = 7.0,
    expected_trs: int | None = None,
    label: str = "run",
) -> np.ndarray:
    """The windows ``[trial, vertex, tr]`` of ``cleaned_run[vertex, time]`` after each onset.

    ``expected_trs``: the number of TRs the model takes; a TR/duration that gives another number
    is an error. So is a window outside the run (naming ``label``, the trial, its onset and the
    run's length).
    """
    starts, length = window_indices(onsets, tr, start, duration)
    if expected_trs is not None and length != expected_trs:
        raise DataError(
            f"{label}: a {duration} s window at TR {tr} s is round({duration} / {tr}) = {length} "
            f"TRs; the model expects {expected_trs} (choose a duration that rounds to "
            f"{expected_trs} TRs, e.g. {expected_trs * tr:g} s)"
        )
    n_time = int(cleaned_run.shape[1])
    outside = np.flatnonzero((starts < 0) | (starts + length > n_time))
    if outside.size:
        k = int(outside[0])
        onset = float(np.ravel(onsets)[k])
        raise DataError(
            f"{label}: trial {k} (onset {onset:g} s) has its window at TRs "
            f"{starts[k]}…{starts[k] + length - 1}, outside the run of {n_time} TRs "
            f"({n_time * tr:g} s); expected windows [onset + {start:g} s, onset + "
            f"{start + duration:g} s) inside the run"
        )
    cut = starts[:, None] + np.arange(length)[None, :]
    return np.ascontiguousarray(np.moveaxis(cleaned_run[:, cut], 0, 1))
