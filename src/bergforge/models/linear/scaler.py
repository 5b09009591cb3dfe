"""A StandardScaler fitted one column block at a time (every block holds all training rows).

Per-column statistics are exact within a block, so no cross-block merging is needed; the result
matches ``sklearn.preprocessing.StandardScaler`` (float64 mean and variance, ``ddof=0``, constant
columns scaled by 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bergforge.atomic import load_npz, save_npz
from bergforge.errors import DataError
from bergforge.models.linear.matrix import check_finite


def constant_columns(var: np.ndarray, mean: np.ndarray, n_samples: int) -> np.ndarray:
    """Columns whose variance is zero up to rounding (scikit-learn's rule)."""
    eps = np.finfo(np.float64).eps
    return var <= n_samples * eps * var + (n_samples * mean * eps) ** 2


@dataclass
class Scaler:
    """Fitted standardisation ``(x - mean_) / scale_`` (scikit-learn attribute names)."""

    mean_: np.ndarray
    var_: np.ndarray
    scale_: np.ndarray
    n_samples_seen_: int

    @property
    def n_features_in_(self) -> int:
        return int(self.mean_.size)

    @classmethod
    def empty(cls, n_features: int, n_samples: int) -> Scaler:
        """A scaler to be filled block by block with :meth:`fit_block`."""
        nan = np.full(n_features, np.nan)
        return cls(nan.copy(), nan.copy(), nan.copy(), n_samples)

    def fit_block(self, start: int, stop: int, block: np.ndarray) -> None:
        """Fit columns ``start:stop`` from all training rows of those columns."""
        if block.shape[0] != self.n_samples_seen_:
            raise DataError(
                f"scaler block has {block.shape[0]} rows; expected {self.n_samples_seen_}"
            )
        mean = block.mean(axis=0, dtype=np.float64)
        var = block.var(axis=0, dtype=np.float64)
        scale = np.sqrt(var)
        scale[constant_columns(var, mean, block.shape[0])] = 1.0
        self.mean_[start:stop], self.var_[start:stop], self.scale_[start:stop] = mean, var, scale

    def fit_transform_block(
        self, start: int, stop: int, block: np.ndarray, train: slice | np.ndarray
    ) -> np.ndarray:
        """Fit columns ``start:stop`` on the ``train`` rows of ``block`` and standardise every
        row: one pass, in place when ``block`` is a float32 array that owns its memory. The mean
        is summed in float64; the variance is the float64 sum of squares of the rows centred in
        float32 (off scikit-learn's by ~1e-7 relative); non-finite values are one clear error."""
        x = _owned_float32(block)
        rows = x[train]
        if rows.shape[0] != self.n_samples_seen_:
            raise DataError(
                f"scaler block has {rows.shape[0]} rows; expected {self.n_samples_seen_}"
            )
        mean = rows.sum(axis=0, dtype=np.float64) / rows.shape[0]
        if not np.isfinite(mean).all():
            check_finite(rows, start)
        x -= mean.astype(np.float32)
        centred = x[train]
        var = np.einsum("ij,ij->j", centred, centred, dtype=np.float64) / centred.shape[0]
        scale = np.sqrt(var)
        scale[constant_columns(var, mean, centred.shape[0])] = 1.0
        self.mean_[start:stop], self.var_[start:stop], self.scale_[start:stop] = mean, var, scale
        x /= scale.astype(np.float32)
        return x

    def transform_block(
        self, start: int, stop: int, block: np.ndarray, in_place: bool = False
    ) -> np.ndarray:
        """Standardise columns ``start:stop`` (float32 out). ``in_place``: overwrite ``block``
        when it is a float32 array that owns its memory (a block just read, never a view of the
        caller's array): no temporaries of the block's size, the same arithmetic."""
        mean = self.mean_[start:stop].astype(np.float32)
        scale = self.scale_[start:stop].astype(np.float32)
        if in_place:
            x = _owned_float32(block)
            x -= mean
            x /= scale
            return x
        return (np.asarray(block, dtype=np.float32) - mean) / scale

    def save(self, path: Path) -> None:
        save_npz(
            path,
            mean_=self.mean_,
            scale_=self.scale_,
            var_=self.var_,
            n_samples_seen_=np.int64(self.n_samples_seen_),
            n_features_in_=np.int64(self.n_features_in_),
        )

    @classmethod
    def load(cls, path: Path) -> Scaler:
        d = load_npz(path, ["mean_", "scale_", "var_", "n_samples_seen_"])
        return cls(d["mean_"], d["var_"], d["scale_"], int(d["n_samples_seen_"]))


def _owned_float32(block: np.ndarray) -> np.ndarray:
    """``block`` itself when it is a writeable float32 array owning its memory (a block just
    read), else a float32 copy: never a view of the caller's array."""
    own = isinstance(block, np.ndarray) and block.flags.owndata and block.flags.writeable
    return block if own and block.dtype == np.float32 else np.array(block, dtype=np.float32)
