"""A nonlinear ground truth: responses driven by a nonlinear function of the image latents.

With ``nonlinear_share = s`` (config ``datasets.<name>.simulation``; 0, the default, keeps the
linear truth and draws nothing) a simulated MEG/EEG subject responds to the *driving latents*

    d(z) = √(1 − s) · z + √s · h(z)

of an image's latents ``z`` (m = ``n_latents``) instead of to ``z`` itself. ``h`` is a random
two-layer network, the same for every subject of a study (seeded by the study's ``seed``):

    g(z) = tanh(z W₁ + b₁) W₂        W₁: m × H, N(0, GAIN²/m);  b₁: N(0, (GAIN/2)²);
                                     W₂: H × m, N(0, 1/H);  H = ``nonlinear_hidden``

with its best linear approximation over the study's images removed and the remainder whitened:
``h(z) = (g(z) − [1, z] A) C^(−1/2)`` (A: least squares over every image of the study, C: the
covariance of the remainder over those images). Over the study's images ``h`` then has mean 0,
identity covariance and no correlation with ``z``; the latents ``z`` themselves (principal
components, :func:`bergforge.simulate.truth.image_latents`) have mean 0 and identity covariance.
So ``d`` has identity covariance too, and for every target the image-driven variance is the same
as with the linear truth while exactly the share ``s`` of it lies outside the span of ``[1, z]``:
a model linear in the latents leaves ``s`` of the signal unexplained on the study's images (it can
reach at most ``(1 − s)`` of the noise ceiling, in percent variance), ``s = 1`` leaves it nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bergforge.errors import ConfigError, DataError

#: scale of the first layer's weights (GAIN/√m) and biases (GAIN/2): tanh works in its curved part
GAIN = 2.0
#: seed of the network, after the study's ``seed``
STREAM = 41


@dataclass(frozen=True)
class NonlinearMap:
    """``d(z) = √(1 − s) z + √s h(z)`` with its fitted constants (module docstring)."""

    share: float
    w1: np.ndarray  # (m, H)
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (H, m)
    linear: np.ndarray  # (1 + m, m): A, the network's best linear approximation
    whiten: np.ndarray  # (m, m): C^(-1/2)

    @classmethod
    def fit(cls, latents: np.ndarray, share: float, hidden: int, seed: int) -> NonlinearMap:
        """Draw the network (seed ``[seed, 41]``) and fit its constants on ``latents`` (images ×
        m, every image of the study)."""
        if not 0.0 < share <= 1.0:
            raise ConfigError(f"nonlinear_share = {share}; expected a number in (0, 1]")
        if hidden < 1:
            raise ConfigError(f"nonlinear_hidden = {hidden}; expected at least 1")
        z = np.asarray(latents, dtype=np.float64)
        n, m = z.shape
        rng = np.random.default_rng([seed, STREAM])
        w1 = rng.standard_normal((m, hidden)) * GAIN / np.sqrt(m)
        b1 = rng.standard_normal(hidden) * GAIN / 2
        w2 = rng.standard_normal((hidden, m)) / np.sqrt(hidden)
        g = np.tanh(z @ w1 + b1) @ w2
        design = _with_intercept(z)
        linear = np.linalg.lstsq(design, g, rcond=None)[0]
        rest = g - design @ linear
        evals, evecs = np.linalg.eigh(rest.T @ rest / n)
        if n <= 2 * m + 1 or evals.min() <= 1e-10 * max(evals.max(), 1e-300):
            raise DataError(
                f"the nonlinear truth needs a remainder of rank {m} beyond the linear part: got "
                f"{n} images for {m} latents and {hidden} hidden units; expected more than "
                f"{2 * m + 1} images (or more nonlinear_hidden units)"
            )
        whiten = (evecs / np.sqrt(evals)) @ evecs.T
        return cls(float(share), w1, b1, w2, linear, whiten)

    def nonlinear_part(self, latents: np.ndarray) -> np.ndarray:
        """``h(z)`` (images × m)."""
        z = np.asarray(latents, dtype=np.float64)
        g = np.tanh(z @ self.w1 + self.b1) @ self.w2
        return (g - _with_intercept(z) @ self.linear) @ self.whiten

    def apply(self, latents: np.ndarray) -> np.ndarray:
        """The driving latents ``d(z)`` (images × m) of ``latents``."""
        z = np.asarray(latents, dtype=np.float64)
        return np.sqrt(1.0 - self.share) * z + np.sqrt(self.share) * self.nonlinear_part(z)


def _with_intercept(z: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((z.shape[0], 1)), z])


def driving_latents(
    latents: np.ndarray, share: float, hidden: int, seed: int
) -> tuple[np.ndarray, NonlinearMap | None]:
    """The latents that drive the responses, and the map (``None``: the linear truth, ``share``
    0, returns ``latents`` itself and draws nothing)."""
    if share == 0:
        return latents, None
    mapping = NonlinearMap.fit(latents, share, hidden, seed)
    return mapping.apply(latents), mapping
