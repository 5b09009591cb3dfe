"""StandardScaler → PCA fitted out of core, streaming column blocks of the feature matrix.

Two solvers, both fused with the scaler (the first pass fits the scaler block by block and scales
on the fly; every later pass re-reads a block and scales it with the fitted statistics):

- ``exact``: the Gram matrix ``K = Xc Xcᵀ`` of the training rows (n × n, float64) in one pass,
  its top eigenpairs, then a second pass for the components. For small n.
- ``randomized``: a randomized range finder (Halko et al.) with the power iterations fused into
  one pass each — for every block ``Z_b = X_bᵀ Q`` then ``Y += X_b Z_b`` — so that ``q`` power
  iterations cost ``q + 2`` reads of X. Only an n × l sketch and the l × p matrix ``B = QᵀX``
  (``l = k + oversampling``) are held in memory.

The projections of the training rows and of any extra rows (the test images) onto the components
are accumulated in the last pass, so no further read of the features is needed. Components follow
scikit-learn's sign convention (largest-magnitude loading of each component positive).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import linalg

from bergforge.atomic import load_npz, save_npz
from bergforge.errors import ConfigError, DataError
from bergforge.models.linear.matrix import FeatureMatrix, check_finite, iter_column_blocks
from bergforge.models.linear.scaler import Scaler

SOLVERS = ("auto", "exact", "randomized")
#: ``auto`` uses the exact solver up to this many training images
EXACT_MAX_SAMPLES = 2048


@dataclass
class PCAModel:
    """Fitted PCA of the scaled features (scikit-learn attribute names)."""

    components_: np.ndarray  # (k, p) float32
    explained_variance_: np.ndarray
    explained_variance_ratio_: np.ndarray
    singular_values_: np.ndarray
    mean_: np.ndarray  # (p,) mean of the scaled training features (≈ 0)
    n_samples_: int
    noise_variance_: float

    @property
    def n_components_(self) -> int:
        return int(self.components_.shape[0])

    @property
    def n_features_in_(self) -> int:
        return int(self.components_.shape[1])

    def save(self, path: Path) -> None:
        save_npz(
            path,
            components_=self.components_,
            explained_variance_=self.explained_variance_,
            explained_variance_ratio_=self.explained_variance_ratio_,
            singular_values_=self.singular_values_,
            mean_=self.mean_,
            n_components_=np.int64(self.n_components_),
            n_samples_=np.int64(self.n_samples_),
            noise_variance_=np.float64(self.noise_variance_),
            n_features_in_=np.int64(self.n_features_in_),
        )

    @classmethod
    def load(cls, path: Path) -> PCAModel:
        keys = ["components_", "explained_variance_", "explained_variance_ratio_"]
        keys += ["singular_values_", "mean_", "n_samples_", "noise_variance_"]
        d = load_npz(path, keys)
        return cls(
            d["components_"],
            d["explained_variance_"],
            d["explained_variance_ratio_"],
            d["singular_values_"],
            d["mean_"],
            int(d["n_samples_"]),
            float(d["noise_variance_"]),
        )


@dataclass
class PCAFit:
    """Result of :func:`fit_scaler_pca`: the two fitted models and the PC scores."""

    scaler: Scaler
    pca: PCAModel
    train_scores: np.ndarray  # (n_train, k) float64
    extra_scores: np.ndarray  # (n_extra, k) float64
    solver: str
    passes: int


@dataclass(frozen=True)
class PCAOptions:
    """How to fit the PCA (config ``models.linear.pca``)."""

    n_components: int = 250
    solver: str = "auto"
    oversampling: int = 20
    power_iterations: int = 2
    block_size: int = 8192

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ConfigError(
                f"models.linear.pca.solver = {self.solver!r}; expected one of {SOLVERS}"
            )

    def resolve_solver(self, n_samples: int) -> str:
        if self.solver != "auto":
            return self.solver
        return "exact" if n_samples <= EXACT_MAX_SAMPLES else "randomized"


class _ScaledBlocks:
    """Re-readable stream of scaled column blocks; the first pass fits the scaler.

    Standardised training columns have mean 0 by construction, so no further centring is done
    (``PCAModel.mean_`` is 0) and the total variance is known from the scaler.
    """

    def __init__(self, features: FeatureMatrix, train: np.ndarray, extra: np.ndarray, block: int):
        self.features, self.block = features, block
        self.rows = np.union1d(train, extra)  # sorted, as stores read fastest
        self.train_idx = np.searchsorted(self.rows, train)
        self.extra_idx = np.searchsorted(self.rows, extra)
        # training rows first and in order (no extra rows, or extra rows after them): slices,
        # not copies, of every block
        if np.array_equal(self.train_idx, np.arange(len(train))):
            self.train_idx = slice(0, len(train))
            if np.array_equal(self.extra_idx, np.arange(len(train), len(self.rows))):
                self.extra_idx = slice(len(train), len(self.rows))
        self.scaler = Scaler.empty(features.shape[1], len(train))
        self.passes = 0

    @property
    def total_var(self) -> float:
        """Sum over columns of the scaled training variance (ddof=1)."""
        n = self.scaler.n_samples_seen_
        return float((self.scaler.var_ / self.scaler.scale_**2).sum() * n / (n - 1))

    def _scaled(self, start: int, stop: int, raw: np.ndarray) -> np.ndarray:
        """One block scaled (on the reading thread); the first pass fits the scaler on it."""
        if self.passes > 1:
            return self.scaler.transform_block(start, stop, raw, in_place=True)  # a fresh block
        x = self.scaler.fit_transform_block(start, stop, raw, self.train_idx)
        if not isinstance(self.extra_idx, slice) or self.extra_idx.stop > self.extra_idx.start:
            check_finite(x[self.extra_idx], start)
        return x

    def __iter__(self):
        for start, stop, x, _ in self.with_block_data(None):
            yield start, stop, x[0], x[1]

    def with_block_data(self, make: Callable[[int, int], Any] | None):
        """One pass yielding ``(start, stop, (train, extra), make(start, stop))``, where the
        block's own data (e.g. its rows of a random matrix) is made on the reading thread."""
        self.passes += 1

        def prepare(start: int, stop: int, raw: np.ndarray):
            x = self._scaled(start, stop, raw)
            return x, (None if make is None else make(start, stop))

        for start, stop, (x, data) in iter_column_blocks(
            self.features, self.rows, self.block, prepare
        ):
            yield start, stop, (x[self.train_idx], x[self.extra_idx]), data


def _block_gaussian(seed: int, start: int, shape: tuple[int, int]) -> np.ndarray:
    """The random test matrix rows of one column block (reproducible per block start)."""
    return np.random.default_rng([seed, start]).standard_normal(shape, dtype=np.float32)


def _orthonormal(y: np.ndarray) -> np.ndarray:
    q, _ = linalg.qr(y, mode="economic", check_finite=False)
    return q


def _sign_fix(components: np.ndarray) -> np.ndarray:
    """+1/−1 per component making its largest-magnitude loading positive (scikit-learn's svd_flip)."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    return np.where(signs == 0, 1.0, signs)


def orthonormalized(components: np.ndarray) -> np.ndarray:
    """``components`` (k, p) float32 with rows made orthonormal: the nearest orthonormal set
    (symmetric orthogonalisation, ``(C Cᵀ)^(-1/2) C``), which removes the float32 rounding of
    their computation (up to ~1e-5 for components with small singular values) and nothing else.
    """
    c = np.ascontiguousarray(components, dtype=np.float32)
    gram = np.zeros((len(c), len(c)))
    for start in range(0, c.shape[1], 65536):  # float64 (a float32 product would itself be off
        part = c[:, start : start + 65536].astype(np.float64)  # by ~1e-6), a block at a time
        gram += part @ part.T
    evals, evecs = linalg.eigh(gram, check_finite=False)
    correction = (evecs / np.sqrt(evals)) @ evecs.T - np.eye(len(gram))
    return c + correction.astype(np.float32) @ c


def _exact(blocks: _ScaledBlocks, n: int, n_extra: int, k: int, p: int):
    gram = np.zeros((n, n))
    cross = np.zeros((n_extra, n))
    for _, _, xt, xe in blocks:
        gram += xt @ xt.T  # float32 products, float64 sums over blocks
        cross += xe @ xt.T
    evals, evecs = linalg.eigh(gram, subset_by_index=[n - k, n - 1], check_finite=False)
    order = np.argsort(evals)[::-1]
    s = np.sqrt(np.maximum(evals[order], 0.0))
    u = evecs[:, order]
    if s[-1] <= 1e-10 * s[0]:
        raise DataError(
            f"the scaled training features have rank below n_components={k}; "
            "expected at least that many independent training images"
        )
    components = np.empty((k, p), dtype=np.float32)  # float32 products: float32 values
    rot = (u / s).T.astype(np.float32)
    for start, stop, xt, _ in blocks:
        components[:, start:stop] = rot @ xt
    return s, components, u * s, cross @ (u / s)


def _randomized(blocks: _ScaledBlocks, opts: PCAOptions, seed: int, n: int, n_extra: int, p: int):
    k, l_dim = opts.n_components, min(opts.n_components + opts.oversampling, n, p)
    sketch = np.zeros((n, l_dim))

    def gaussian(start: int, stop: int) -> np.ndarray:
        return _block_gaussian(seed, start, (stop - start, l_dim))

    for _, _, (xt, _), omega in blocks.with_block_data(gaussian):
        sketch += xt @ omega
    q = _orthonormal(sketch)
    for _ in range(opts.power_iterations):
        q32, sketch = q.astype(np.float32), np.zeros((n, l_dim))
        for _, _, xt, _ in blocks:
            sketch += xt @ (xt.T @ q32)
        q = _orthonormal(sketch)
    q32 = q.astype(np.float32)
    b_t = np.empty((p, l_dim), dtype=np.float32)  # Bᵀ = Xᵀ Q
    bbt = np.zeros((l_dim, l_dim))
    proj_train, proj_extra = np.zeros((n, l_dim)), np.zeros((n_extra, l_dim))
    for start, stop, xt, xe in blocks:
        bt = xt.T @ q32
        b_t[start:stop] = bt
        bt64 = bt.astype(np.float64)
        bbt += bt64.T @ bt64
        proj_train += xt @ bt
        proj_extra += xe @ bt
    evals, evecs = linalg.eigh(bbt, check_finite=False)
    order = np.argsort(evals)[::-1][:k]
    s = np.sqrt(np.maximum(evals[order], 0.0))
    if s[-1] <= 1e-10 * s[0]:
        raise DataError(
            f"the scaled training features have rank below n_components={k}; "
            "expected at least that many independent training images"
        )
    rot = evecs[:, order] / s  # (l, k): V = Bᵀ U_B S⁻¹
    components = np.ascontiguousarray((b_t @ rot.astype(np.float32)).T)
    return s, components, proj_train @ rot, proj_extra @ rot


def fit_scaler_pca(
    features: FeatureMatrix,
    train_rows: np.ndarray,
    extra_rows: np.ndarray | None = None,
    options: PCAOptions | None = None,
    seed: int = 0,
) -> PCAFit:
    """Fit StandardScaler → PCA on ``train_rows`` of ``features``; score train and extra rows."""
    opts = options or PCAOptions()
    train = np.asarray(train_rows, dtype=np.int64)
    extra = np.asarray(extra_rows if extra_rows is not None else [], dtype=np.int64)
    n, p = len(train), features.shape[1]
    k = opts.n_components
    if n <= k:
        raise DataError(
            f"PCA with n_components={k} needs more training images than components; got {n} "
            "training images (lower models.linear.n_components or add images)"
        )
    if p < k:
        raise DataError(f"PCA with n_components={k} needs at least {k} features; got {p}")
    if np.unique(train).size != n or np.intersect1d(train, extra).size:
        raise DataError("training rows must be unique and distinct from the extra (test) rows")
    blocks = _ScaledBlocks(features, train, extra, opts.block_size)
    solver = opts.resolve_solver(n)
    if solver == "exact":
        s, comps, scores, extra_scores = _exact(blocks, n, len(extra), k, p)
    else:
        s, comps, scores, extra_scores = _randomized(blocks, opts, seed, n, len(extra), p)
    signs = _sign_fix(comps)
    comps *= signs[:, None]
    scores, extra_scores = scores * signs, extra_scores * signs
    total_var = blocks.total_var
    explained = s**2 / (n - 1)
    rank = min(n, p)
    noise = (total_var - explained.sum()) / (rank - k) if rank > k else 0.0
    pca = PCAModel(
        components_=orthonormalized(comps),
        explained_variance_=explained,
        explained_variance_ratio_=explained / total_var,
        singular_values_=s,
        mean_=np.zeros(p, dtype=np.float32),
        n_samples_=n,
        noise_variance_=float(max(noise, 0.0)),
    )
    return PCAFit(blocks.scaler, pca, scores, extra_scores, solver, blocks.passes)


def transform(
    features: FeatureMatrix, rows: np.ndarray, scaler: Scaler, pca: PCAModel, block_size: int
) -> np.ndarray:
    """PC scores ``((x - mean)/scale - pca.mean_) @ components_ᵀ`` of ``rows``, streamed (float64)."""
    rows = np.asarray(rows, dtype=np.int64)
    scores = np.zeros((len(rows), pca.n_components_))
    for start, stop, raw in iter_column_blocks(features, rows, block_size):
        check_finite(raw, start)
        x = scaler.transform_block(start, stop, raw) - pca.mean_[start:stop]
        scores += x.astype(np.float64) @ pca.components_[:, start:stop].T.astype(np.float64)
    return scores
