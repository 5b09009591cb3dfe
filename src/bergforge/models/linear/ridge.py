"""Linear regression from PC scores to many targets, from sufficient statistics (perf.md §7.1).

One pass over the targets accumulates, per cross-validation fold ``f`` (contiguous folds, as
``sklearn.model_selection.KFold`` without shuffling), ``n_f``, ``Σx``, ``XᵀX`` (k × k), ``XᵀY``
(k × T), ``Σy`` and ``Σy²`` (T). Everything after that — every fold, every alpha, the refit — is
k × k × T algebra that never touches the n rows again. Both regressions fit an intercept.

- ``ols``: ordinary least squares (scikit-learn ``LinearRegression``; minimum-norm if rank-deficient).
- ``ridge_cv``: per target, the alpha of the grid with the lowest mean validation MSE over the K
  folds (ties → the earlier alpha), then a refit on all rows with that alpha (scikit-learn ``Ridge``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from bergforge.errors import ConfigError, DataError

REGRESSIONS = ("ols", "ridge_cv")
#: rows of the targets converted to float64 at a time while accumulating
ROW_CHUNK = 512
#: relative eigenvalue gap below which the quadratic terms are computed directly
GAP_TOLERANCE = 1e-7


def kfold_bounds(n: int, n_folds: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` folds, the first ``n % n_folds`` one row longer (as KFold)."""
    if not 2 <= n_folds <= n:
        raise ConfigError(f"encoding.folds = {n_folds}; expected 2 ≤ folds ≤ {n} training images")
    sizes = np.full(n_folds, n // n_folds)
    sizes[: n % n_folds] += 1
    stops = np.cumsum(sizes)
    return [(int(b - s), int(b)) for s, b in zip(sizes, stops, strict=True)]


@dataclass
class Stats:
    """Sufficient statistics of a set of rows for many targets (float64)."""

    n: int
    sx: np.ndarray  # (k,)
    gxx: np.ndarray  # (k, k)
    cxy: np.ndarray  # (k, T)
    sy: np.ndarray  # (T,)
    syy: np.ndarray  # (T,)

    @classmethod
    def zeros(cls, k: int, t: int) -> Stats:
        return cls(0, np.zeros(k), np.zeros((k, k)), np.zeros((k, t)), np.zeros(t), np.zeros(t))

    def add(
        self,
        x: np.ndarray,
        y: np.ndarray,
        shift: np.ndarray | None = None,
        buffer: np.ndarray | None = None,
    ) -> None:
        """Add rows ``x`` (m × k) with targets ``y - shift`` (m × T), in float64 row chunks.

        ``buffer`` (≥ ROW_CHUNK × T float64) is reused for the chunks instead of new arrays.
        """
        x = np.asarray(x, dtype=np.float64)
        self.n += len(x)
        self.sx += x.sum(axis=0)
        self.gxx += x.T @ x
        t = self.cxy.shape[1]
        if buffer is None or buffer.shape[0] < min(ROW_CHUNK, len(x)) or buffer.shape[1] != t:
            buffer = np.empty((min(ROW_CHUNK, len(x)), t))
        for s in range(0, len(x), ROW_CHUNK):
            rows = y[s : s + ROW_CHUNK]
            yc = buffer[: len(rows)]
            if shift is None:
                yc[:] = rows
            else:
                np.subtract(rows, shift, out=yc)
            xc = x[s : s + ROW_CHUNK]
            self.cxy += xc.T @ yc
            self.sy += np.ones(len(rows)) @ yc
            self.syy += np.einsum("ij,ij->j", yc, yc)

    def targets(self, sl: slice) -> Stats:
        """The same statistics for a slice of the targets (views, no copy)."""
        return Stats(self.n, self.sx, self.gxx, self.cxy[:, sl], self.sy[sl], self.syy[sl])

    def __sub__(self, other: Stats) -> Stats:
        return Stats(
            self.n - other.n,
            self.sx - other.sx,
            self.gxx - other.gxx,
            self.cxy - other.cxy,
            self.sy - other.sy,
            self.syy - other.syy,
        )

    def centred(
        self, xbar: np.ndarray, ybar: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``Σx̃x̃ᵀ``, ``Σx̃ỹ``, ``Σỹ²`` of these rows with x̃ = x − xbar, ỹ = y − ybar."""
        gxx = self.gxx - np.outer(xbar, self.sx) - np.outer(self.sx, xbar)
        gxx += self.n * np.outer(xbar, xbar)
        cxy = self.cxy - np.outer(xbar, self.sy) - np.outer(self.sx, ybar)
        cxy += self.n * np.outer(xbar, ybar)
        syy = self.syy - 2 * ybar * self.sy + self.n * ybar**2
        return gxx, cxy, syy


class FoldStatistics:
    """Per-fold statistics for all targets, filled one batch of consecutive rows at a time."""

    def __init__(self, n: int, k: int, t: int, n_folds: int = 1, shift: np.ndarray | None = None):
        self.bounds = kfold_bounds(n, n_folds) if n_folds > 1 else [(0, n)]
        self.folds = [Stats.zeros(k, t) for _ in self.bounds]
        self.n, self.seen = n, 0
        self.shift = shift  # subtracted from y before accumulating (numerics); set on first batch
        self._buffer: np.ndarray | None = None  # ROW_CHUNK × T float64, reused by every add

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add the next ``len(x)`` rows (in training order)."""
        if self.shift is None:
            self.shift = np.asarray(y).mean(axis=0, dtype=np.float64)
        lo, hi = self.seen, self.seen + len(x)
        t = self.folds[0].cxy.shape[1]
        if self._buffer is None or self._buffer.shape[1] != t:
            self._buffer = np.empty((ROW_CHUNK, t))
        for (a, b), stats in zip(self.bounds, self.folds, strict=True):
            s, e = max(a, lo), min(b, hi)
            if s < e:
                stats.add(x[s - lo : e - lo], y[s - lo : e - lo], self.shift, self._buffer)
        self.seen = hi

    def subset(self, targets: slice) -> FoldStatistics:
        """The statistics of a slice of the targets (views, no copy)."""
        sub = FoldStatistics.__new__(FoldStatistics)
        sub.bounds, sub.n, sub.seen = self.bounds, self.n, self.seen
        sub.folds = [f.targets(targets) for f in self.folds]
        sub.shift = self.shift[targets]
        sub._buffer = None
        return sub

    def total(self) -> Stats:
        total = Stats.zeros(*self.folds[0].cxy.shape)
        for f in self.folds:
            total.n += f.n
            total.sx += f.sx
            total.gxx += f.gxx
            total.cxy += f.cxy
            total.sy += f.sy
            total.syy += f.syy
        return total


@dataclass
class RegressionResult:
    """Coefficients per target (T × k), intercepts and chosen alphas (0 for ols)."""

    coef: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray
    cv_mse: np.ndarray  # (T,) mean validation MSE at the chosen alpha (NaN for ols)


def _eig(gxx_centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    evals, evecs = linalg.eigh(gxx_centred, check_finite=False)
    return evals, evecs


def _refit(total: Stats, alpha: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (T × k) and intercepts with a per-target ``alpha`` (0 → least squares)."""
    xbar, ybar = total.sx / total.n, total.sy / total.n
    gxx, cxy, _ = total.centred(xbar, ybar)
    evals, v = _eig(gxx)
    z = v.T @ cxy  # (k, T)
    denom = evals[:, None] + alpha[None, :]
    cutoff = max(gxx.shape[0], total.n) * np.finfo(np.float64).eps * max(evals.max(), 0.0)
    with np.errstate(divide="ignore"):
        inv = np.where(denom > cutoff, 1.0 / denom, 0.0)
    coef = v @ (z * inv)  # (k, T)
    intercept = ybar - xbar @ coef + shift
    return coef.T, intercept


def solve_ols(stats: FoldStatistics) -> RegressionResult:
    """Least squares for every target of ``stats``."""
    total = stats.total()
    t = total.sy.size
    coef, intercept = _refit(total, np.zeros(t), stats.shift)
    return RegressionResult(coef, intercept, np.zeros(t), np.full(t, np.nan))


def _quadratic_terms(
    m: np.ndarray, evals: np.ndarray, z: np.ndarray, inv: np.ndarray
) -> np.ndarray:
    """``uᵀ M u`` per alpha and target for ``u = diag(inv[a]) z`` (A × T).

    With distinct eigenvalues, partial fractions ``d_k d_l = (d_k − d_l)/(λ_l − λ_k)`` give
    ``uᵀMu = Σ_k d_k² M_kk z_k² + 2 Σ_k d_k z_k (N z)_k`` with ``N_kl = M_kl/(λ_l − λ_k)``: one
    k × k × T GEMM for all alphas instead of one per alpha. Near-equal eigenvalues (where that
    division loses precision) fall back to the direct GEMM per alpha.
    """
    gaps = evals[None, :] - evals[:, None]
    np.fill_diagonal(gaps, np.inf)
    scale = np.abs(evals).max() + 1.0 / inv.max()
    if np.abs(gaps).min() > GAP_TOLERANCE * scale:
        h = (m / gaps) @ z
        return (inv**2) @ (np.diag(m)[:, None] * z**2) + 2 * inv @ (z * h)
    quad = np.empty((len(inv), z.shape[1]))
    for a, d in enumerate(inv):
        u = z * d[:, None]
        quad[a] = np.einsum("kt,kt->t", u, m @ u)
    return quad


def validation_mse(stats: FoldStatistics, alphas: np.ndarray) -> np.ndarray:
    """Mean over folds of the validation MSE, shape (n_alphas, T)."""
    folds = stats.folds
    total = stats.total()
    mse = np.zeros((len(alphas), total.sy.size))
    for held in folds:
        train = total - held
        xbar, ybar = train.sx / train.n, train.sy / train.n
        g_train, c_train, _ = train.centred(xbar, ybar)
        evals, v = _eig(g_train)
        z = v.T @ c_train  # (k, T)
        g_val, c_val, syy_val = held.centred(xbar, ybar)
        g_rot, c_rot = v.T @ g_val @ v, v.T @ c_val
        inv = 1.0 / (evals[None, :] + alphas[:, None])  # (A, k)
        cross = inv @ (z * c_rot)  # (A, T): Σ_k u·c for every alpha in one GEMM
        quad = _quadratic_terms(g_rot, evals, z, inv)
        sse = syy_val[None] - 2 * cross + quad
        mse += sse / held.n
    return mse / len(folds)


def solve_ridge_cv(stats: FoldStatistics, alphas: np.ndarray) -> RegressionResult:
    """Per-target alpha by K-fold validation MSE, then the refit on all rows."""
    alphas = np.asarray(alphas, dtype=np.float64)
    if len(stats.folds) < 2:
        raise ConfigError("ridge_cv needs the statistics of at least 2 folds")
    mse = validation_mse(stats, alphas)
    best = np.argmin(mse, axis=0)
    alpha = alphas[best]
    coef, intercept = _refit(stats.total(), alpha, stats.shift)
    return RegressionResult(coef, intercept, alpha, mse[best, np.arange(mse.shape[1])])


def check_alphas(alphas: list[float] | np.ndarray) -> np.ndarray:
    """The alpha grid as an array; :class:`ConfigError` unless non-empty and positive."""
    a = np.asarray(alphas, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ConfigError(
            f"encoding.alphas = {list(a.ravel())}; expected a non-empty list of α > 0"
        )
    return a


def fit_regression(
    x: np.ndarray,
    y: np.ndarray,
    kind: str = "ols",
    alphas: np.ndarray | None = None,
    n_folds: int = 5,
) -> RegressionResult:
    """In-memory convenience: statistics of (x, y) then :func:`solve_ols` / :func:`solve_ridge_cv`."""
    if kind not in REGRESSIONS:
        raise ConfigError(f"models.linear.regression = {kind!r}; expected one of {REGRESSIONS}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("regression inputs contain NaN or infinite values; expected finite numbers")
    folds = n_folds if kind == "ridge_cv" else 1
    stats = FoldStatistics(len(x), x.shape[1], y.shape[1], folds)
    stats.add(x, y)
    if kind == "ols":
        return solve_ols(stats)
    return solve_ridge_cv(stats, check_alphas(alphas))


def solve(stats: FoldStatistics, kind: str, alphas: np.ndarray | None) -> RegressionResult:
    """:func:`solve_ols` or :func:`solve_ridge_cv` by name."""
    return solve_ols(stats) if kind == "ols" else solve_ridge_cv(stats, alphas)


def concatenate(results: list[RegressionResult]) -> RegressionResult:
    """Join the results of consecutive target blocks."""
    return RegressionResult(
        *(
            np.concatenate([getattr(r, f) for r in results])
            for f in ("coef", "intercept", "alpha", "cv_mse")
        )
    )
