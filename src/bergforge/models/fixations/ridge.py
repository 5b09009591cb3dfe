"""The ``ridge_cv`` kind: one ridge per target on the training subjects' fixations pooled.

Features are standardised on the pooled rows (each column's mean and sd; a constant column keeps
scale 1) and each target is scaled to unit sd around its mean, so the penalties mean the same for
every target and the fit runs in float64 on numbers near 1. Each target then chooses its penalty
from ``alphas`` by **efficient leave-one-out**: with the centred features ``Xc = U S Vᵀ``
(from the eigendecomposition of the ``p × p`` Gram ``XcᵀXc``, components with an eigenvalue
below ``RANK_TOLERANCE`` × the largest dropped) and ``d(α) = s² / (s² + α)``, the fit of every
target is ``ŷ = ȳ + U diag(d) Uᵀ yc``, its hat diagonal ``hᵢᵢ = 1/n + Σₖ U²ᵢₖ dₖ`` (the intercept
unpenalised) and the exact leave-one-out residual ``eᵢ / (1 − hᵢᵢ)``; the penalty with the
smallest mean squared leave-one-out residual wins (ties: the smaller penalty). Every penalty is
scored in one pass over the rows (blocks of ``ROW_BLOCK``), so the rows are never refitted. This
is the choice and the solution of scikit-learn's ``RidgeCV(alphas, alpha_per_target=True)``
(intercept fitted) on the same standardised data; bergforge does not need scikit-learn for it.

Tensors: ``input.mean``, ``input.scale`` (p,), ``ridge.coef`` (p, T) on standardised features,
``ridge.intercept`` (T,), ``ridge.alpha`` (T,), ``target.mean``, ``target.scale`` (T,), float64;
a new subject's responses are ``(((x − mean) / scale) @ coef + intercept) · t_scale + t_mean``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bergforge.models.linear.scaler import constant_columns

#: rows per block when scoring the penalties
ROW_BLOCK = 4096
#: Gram eigenvalues below this fraction of the largest are treated as zero
RANK_TOLERANCE = 1e-12

TENSORS = (
    "input.mean",
    "input.scale",
    "ridge.coef",
    "ridge.intercept",
    "ridge.alpha",
    "target.mean",
    "target.scale",
)


@dataclass
class RidgeLoo:
    """A ridge per target with its leave-one-out choice of penalty."""

    coef: np.ndarray  # (p, T)
    intercept: np.ndarray  # (T,)
    alpha: np.ndarray  # (T,) chosen penalty
    loo_mse: np.ndarray  # (n_alphas, T) mean squared leave-one-out residual


def standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sd) per column in float64; a constant column gets sd 1."""
    mean = x.mean(axis=0, dtype=np.float64)
    var = x.var(axis=0, dtype=np.float64)
    scale = np.sqrt(var)
    scale[constant_columns(var, mean, x.shape[0])] = 1.0
    return mean, scale


def ridge_loo(x: np.ndarray, y: np.ndarray, alphas: tuple[float, ...]) -> RidgeLoo:
    """Ridge of every column of ``y`` (n, T) on ``x`` (n, p) with an unpenalised intercept, the
    penalty per column chosen from ``alphas`` by leave-one-out (module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.shape[0]
    alphas_arr = np.asarray(alphas, dtype=np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc = x - x_mean
    eigval, vectors = np.linalg.eigh(xc.T @ xc)
    keep = eigval > RANK_TOLERANCE * max(float(eigval.max(initial=0.0)), np.finfo(float).tiny)
    s2, vectors = eigval[keep], vectors[:, keep]
    s = np.sqrt(s2)
    projection = vectors / s  # xc @ projection = U
    c = projection.T @ (xc.T @ y)  # Uᵀ yc, (k, T): the columns of xc sum to zero
    shrink = s2[None, :] / (s2[None, :] + alphas_arr[:, None])  # (n_alphas, k)
    sse = np.zeros((alphas_arr.size, y.shape[1]))
    for start in range(0, n, ROW_BLOCK):
        u = xc[start : start + ROW_BLOCK] @ projection
        yc = y[start : start + ROW_BLOCK] - y_mean
        leverage = 1.0 / n + (u**2) @ shrink.T  # (rows, n_alphas)
        for a in range(alphas_arr.size):
            residual = yc - u @ (shrink[a][:, None] * c)
            sse[a] += ((residual / (1.0 - leverage[:, a : a + 1])) ** 2).sum(axis=0)
    loo = sse / n
    best = np.argmin(loo, axis=0)  # the first (smallest listed) of equal errors
    alpha = alphas_arr[best]
    coef = vectors @ ((s[:, None] / (s2[:, None] + alpha[None, :])) * c)
    return RidgeLoo(coef, y_mean - x_mean @ coef, alpha, loo)


def fit_ridge_tensors(
    x: np.ndarray, y: np.ndarray, alphas: tuple[float, ...]
) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """The kind's tensors (module docstring) and record of pooled ``x`` (n, p), ``y`` (n, T)."""
    x_mean, x_scale = standardisation(x)
    y_mean, y_scale = standardisation(y)
    fit = ridge_loo((x - x_mean) / x_scale, (y - y_mean) / y_scale, alphas)
    tensors = {
        "input.mean": x_mean,
        "input.scale": x_scale,
        "ridge.coef": fit.coef,
        "ridge.intercept": fit.intercept,
        "ridge.alpha": fit.alpha,
        "target.mean": y_mean,
        "target.scale": y_scale,
    }
    counts = {f"{a:g}": int((fit.alpha == a).sum()) for a in alphas}
    return tensors, {"chosen_alphas": counts}  # penalty → number of targets that chose it


def predict_ridge(tensors: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Responses (n, T) float64 of feature rows ``x``."""
    z = (np.asarray(x, dtype=np.float64) - tensors["input.mean"]) / tensors["input.scale"]
    out = z @ tensors["ridge.coef"] + tensors["ridge.intercept"]
    return out * tensors["target.scale"] + tensors["target.mean"]
