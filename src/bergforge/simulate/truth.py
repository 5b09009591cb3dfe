"""Ground truth of a simulated study: image latents and each subject's linear response model.

The true response of subject ``s`` to image ``i`` at channel ``c`` and time ``t`` is

    R_i(c, t) = sum_j z_ij * a_j * S_j(c) * T_j(t) + b * E(c) * T_E(t)

where ``z`` are the image latents (top principal components of the standardised backbone features,
unit variance), ``S_j`` smooth spatial patterns, ``T_j`` temporal bumps, and ``E``/``T_E`` an
image-independent evoked response. Trials add band-limited Gaussian noise of known std per channel.

Two options of the simulation config change this (both off by default, which keeps every draw and
file as it was):

- ``nonlinear_share``: ``z`` is replaced by the *driving latents* ``d(z)``, a nonlinear function of
  the latents (:mod:`bergforge.simulate.nonlinear`).
- ``shared_fraction = ρ``: the response map of latent ``j`` (``a_j S_j(c) T_j(t)``, the kernel) is
  ``√ρ · K_common,j + √(1 − ρ) · K_subject,j``, where the common kernels are drawn once per study
  (seed ``[seed, 43]``) and the subject's own are the kernels the subject draws without the
  option. Both parts come from the same distribution, so the signal variance is unchanged in
  expectation and two subjects' maps of the same latent have an expected correlation of ``ρ``
  (uncentred, over channels × times: ``E⟨K_s, K_t⟩ / E‖K‖² = ρ``). ρ = 1 gives every subject the
  same maps. The truth then has two components per latent (``component_latent`` says which latent
  drives each).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bergforge.simulate.signals import (
    noise_ceiling,
    smooth_spatial_patterns,
    temporal_shape,
)


def image_latents(features: np.ndarray, n_latents: int, block: int = 16384) -> np.ndarray:
    """Top ``n_latents`` principal component scores of standardised features, each with unit variance.

    Exact: the eigenvectors of the images' Gram matrix (images × images, float64), accumulated over
    column blocks so that no float64 copy of the features is made; component signs are fixed (the
    largest-magnitude loading of each component is positive) so the result is deterministic.
    """
    x = np.asarray(features)
    n = x.shape[0]
    blocks = [slice(s, min(s + block, x.shape[1])) for s in range(0, x.shape[1], block)]
    mean = np.concatenate([x[:, b].mean(axis=0, dtype=np.float64) for b in blocks])
    sd = np.concatenate([x[:, b].std(axis=0, dtype=np.float64) for b in blocks])
    keep = sd > 1e-12 * max(sd.max(), 1e-30)

    def standardised(b: slice) -> np.ndarray:
        k = keep[b]
        return (x[:, b][:, k].astype(np.float64) - mean[b][k]) / sd[b][k]

    gram = np.zeros((n, n))
    for b in blocks:
        z = standardised(b)
        gram += z @ z.T
    eigval, eigvec = np.linalg.eigh(gram)
    order = np.argsort(eigval)[::-1][:n_latents]
    sing = np.sqrt(np.clip(eigval[order], 0.0, None))
    u = eigvec[:, order]
    # loadings v_k = z^T u_k / s_k; only the sign of each one's largest-magnitude entry is needed
    best = np.zeros(n_latents)
    sign = np.ones(n_latents)
    for b in blocks:
        loadings = (standardised(b).T @ u) / np.where(sing > 0, sing, 1.0)
        at = np.abs(loadings).argmax(axis=0)
        value = loadings[at, np.arange(n_latents)]
        larger = np.abs(value) > best
        best[larger] = np.abs(value[larger])
        sign[larger] = np.sign(value[larger])
    scores = u * sing * np.where(sign == 0, 1.0, sign)
    return scores / scores.std(axis=0)


@dataclass
class SubjectTruth:
    """One subject's linear response model (see module docstring)."""

    channels: list[str]
    spatial: np.ndarray  # (n_latents, n_channels), amplitude included
    latency: np.ndarray  # (n_latents,) s
    width: np.ndarray  # (n_latents,) s
    evoked_spatial: np.ndarray  # (n_channels,), amplitude included
    evoked_latency: float
    evoked_width: float
    noise_sd: np.ndarray  # (n_channels,)
    #: latent driving each row of ``spatial``/``latency``/``width`` (None: row j is latent j)
    component_latent: np.ndarray | None = None

    @property
    def n_latents(self) -> int:
        """Latents the responses depend on."""
        if self.component_latent is None:
            return int(self.spatial.shape[0])
        return int(self.component_latent.max()) + 1

    def with_shared(self, common: SubjectTruth, fraction: float) -> SubjectTruth:
        """This truth with the kernels ``√ρ · common + √(1 − ρ) · own`` (``ρ`` = ``fraction``;
        the noise, the evoked response and everything else stay this truth's)."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"shared_fraction = {fraction}; expected a number in (0, 1]")
        if self.component_latent is not None or common.spatial.shape != self.spatial.shape:
            raise ValueError("shared structure combines two plain truths of the same shape")
        latents = np.arange(self.spatial.shape[0])
        return replace(
            self,
            spatial=np.vstack(
                [np.sqrt(fraction) * common.spatial, np.sqrt(1.0 - fraction) * self.spatial]
            ),
            latency=np.concatenate([common.latency, self.latency]),
            width=np.concatenate([common.width, self.width]),
            component_latent=np.concatenate([latents, latents]),
        )

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        channels: list[str],
        positions: np.ndarray,
        n_latents: int,
        noise_sd: float,
        snr: float,
        latency_range: tuple[float, float],
    ) -> SubjectTruth:
        """Draw patterns whose peak single-trial signal std is about ``snr`` times the noise std."""
        sd = noise_sd * rng.uniform(0.7, 1.3, size=len(channels))
        amplitude = snr * noise_sd * rng.uniform(0.6, 1.0, size=n_latents) / np.sqrt(n_latents) * 2
        spatial = smooth_spatial_patterns(positions, n_latents, rng) * amplitude[:, None]
        width = rng.uniform(0.04, 0.12, size=n_latents)
        # every bump starts at least 20 ms after onset, so the pre-stimulus window holds no signal
        latency = np.maximum(rng.uniform(*latency_range, size=n_latents), width + 0.02)
        evoked = smooth_spatial_patterns(positions, 1, rng)[0] * snr * noise_sd
        return cls(
            channels=list(channels),
            spatial=spatial,
            latency=latency,
            width=width,
            evoked_spatial=evoked,
            evoked_latency=float(latency_range[0]),
            evoked_width=0.05,
            noise_sd=sd,
        )

    def kernels(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-latent response kernels (n_latents, n_channels, n_times) and the evoked (n_ch, n_t)."""
        temporal = temporal_shape(times, self.latency, self.width)
        evoked_t = temporal_shape(times, [self.evoked_latency], [self.evoked_width])[0]
        components = self.spatial[:, :, None] * temporal[:, None, :]
        if self.component_latent is not None:  # the components of each latent summed
            kernels = np.zeros((self.n_latents, *components.shape[1:]))
            np.add.at(kernels, self.component_latent, components)
            components = kernels
        return components, self.evoked_spatial[:, None] * evoked_t[None, :]

    def responses(self, latents: np.ndarray, times: np.ndarray) -> np.ndarray:
        """True responses (n_images, n_channels, n_times) to images with ``latents`` (n_images, m)."""
        kernels, evoked = self.kernels(times)
        return np.tensordot(latents, kernels, axes=(1, 0)) + evoked[None]

    def save(self, path: Path, **extra: np.ndarray) -> None:
        """Write the model plus ``extra`` arrays as an uncompressed, byte-reproducible ``.npz``
        (``component_latent`` only when set, so a truth without shared structure keeps its bytes)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.component_latent is not None:
            extra = {"component_latent": self.component_latent, **extra}
        with open(path, "wb") as fh:
            np.savez(
                fh,
                channels=np.asarray(self.channels),
                spatial=self.spatial,
                latency=self.latency,
                width=self.width,
                evoked_spatial=self.evoked_spatial,
                evoked_latency=self.evoked_latency,
                evoked_width=self.evoked_width,
                noise_sd=self.noise_sd,
                **extra,
            )

    @classmethod
    def load(cls, path: Path) -> tuple[SubjectTruth, dict[str, np.ndarray]]:
        """Read a saved model; returns it with the extra arrays."""
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        fields = {
            "channels": [str(c) for c in arrays.pop("channels")],
            "spatial": arrays.pop("spatial"),
            "latency": arrays.pop("latency"),
            "width": arrays.pop("width"),
            "evoked_spatial": arrays.pop("evoked_spatial"),
            "evoked_latency": float(arrays.pop("evoked_latency")),
            "evoked_width": float(arrays.pop("evoked_width")),
            "noise_sd": arrays.pop("noise_sd"),
            "component_latent": arrays.pop("component_latent", None),
        }
        return cls(**fields), arrays

    def analytic_noise_ceiling(
        self, true_test: np.ndarray, n_reps: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ncsnr, NC in percent) per channel × time from the true test responses and noise std."""
        signal_var = true_test.var(axis=0, ddof=1)
        noise_var = (self.noise_sd**2)[:, None]
        ncsnr = np.sqrt(signal_var / noise_var)
        return ncsnr, noise_ceiling(signal_var, noise_var, n_reps)
