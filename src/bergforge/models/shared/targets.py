"""Which targets of two subjects are the same target: keys from the prepared stores' coordinates.

A target's key is ``{channel}@{time}`` for MEG/EEG stores with ``[channel, time]`` targets and
channel names (times from the store's ``times``, else the time index), the vertex number for fMRI
stores with ``vertices``; a store without these coordinates keys its targets by position, which
is accepted only when every subject has the same target shape. Subjects whose channel sets (a
channel dropped for one subject) or vertex sets differ share the targets whose keys agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bergforge.errors import DataError


def target_keys(store: Any) -> np.ndarray:
    """One string per flat target of a prepared store (module docstring), channel-major."""
    attrs, shape = store.attrs, tuple(store.target_shape)
    dims = list(attrs.get("dims", []))[2:]
    n = int(np.prod(shape))
    if dims == ["channel", "time"] and "channels" in attrs and len(attrs["channels"]) == shape[0]:
        times = attrs.get("times")
        times = [f"{float(t):g}" for t in times] if times is not None else None
        if times is None or len(times) != shape[1]:
            times = [f"#{i}" for i in range(shape[1])]
        keys = np.array([f"{c}@{t}" for c in attrs["channels"] for t in times])
    elif "vertices" in attrs and len(attrs["vertices"]) == n:
        keys = np.array([str(int(v)) for v in attrs["vertices"]])
    else:
        return np.array([f"#{i}" for i in range(n)])
    if np.unique(keys).size != keys.size:
        raise DataError(f"{store.path}: target coordinates repeat; expected one key per target")
    return keys


def is_positional(keys: np.ndarray) -> bool:
    return keys.size > 0 and str(keys[0]).startswith("#") and "@" not in str(keys[0])


def match_targets(held_out: Any, trained: list[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each trained store: (targets of the held-out subject, the same targets of that
    subject) as flat indices; one error when positional keys meet different shapes."""
    keys = target_keys(held_out)
    out = []
    for store in trained:
        other = target_keys(store)
        if (is_positional(keys) or is_positional(other)) and (
            tuple(store.target_shape) != tuple(held_out.target_shape)
        ):
            raise DataError(
                f"{held_out.path} (targets {list(held_out.target_shape)}) and {store.path} "
                f"(targets {list(store.target_shape)}) record no channel or vertex names to "
                "match their targets by; expected the same target shape or named targets"
            )
        _, mine, theirs = np.intersect1d(keys, other, assume_unique=True, return_indices=True)
        out.append((mine, theirs))
    return out
