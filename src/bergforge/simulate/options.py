"""The truth options of the MEG/EEG simulator and how they are recorded.

``nonlinear_share`` (with ``nonlinear_hidden``): responses driven by a nonlinear function of the
image latents (:mod:`bergforge.simulate.nonlinear`). ``shared_fraction``: each subject's response
maps are a common map plus its own (:meth:`bergforge.simulate.truth.SubjectTruth.with_shared`).
Both default to 0, which draws nothing extra and writes every file as before the options existed.
The subject's ground truth (``ground_truth/sub-…_truth.npz``) gets the options' arrays only when
one is on; the truth of the prepared data (``results/truth/…``) always records them
(:func:`truth_record`) beside its noise ceiling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bergforge.errors import ConfigError, DataError
from bergforge.simulate.nonlinear import NonlinearMap, driving_latents
from bergforge.simulate.truth import SubjectTruth

#: seed of the study's common maps, after the study's ``seed``
SHARED_STREAM = 43


def check_options(sim: Any, where: str) -> None:
    """``nonlinear_share`` and ``shared_fraction`` in [0, 1], ``nonlinear_hidden`` ≥ 1."""
    for key in ("nonlinear_share", "shared_fraction"):
        value = float(getattr(sim, key))
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where}.{key} = {value}; expected a number in [0, 1]")
    if int(sim.nonlinear_hidden) < 1:
        raise ConfigError(f"{where}.nonlinear_hidden = {sim.nonlinear_hidden}; expected ≥ 1")


def draw_subject_truth(
    sim: Any,
    rng: np.random.Generator,
    channels: list[str],
    positions: np.ndarray,
    latency_range: tuple[float, float],
) -> SubjectTruth:
    """A subject's truth: drawn from its own ``rng`` as always, then (``shared_fraction`` > 0)
    mixed with the study's common maps, drawn the same way from the seed ``[seed, 43]``."""
    truth = SubjectTruth.draw(
        rng, channels, positions, sim.n_latents, sim.noise_sd, sim.snr, latency_range
    )
    if sim.shared_fraction > 0:
        common = SubjectTruth.draw(
            np.random.default_rng([sim.seed, SHARED_STREAM]),
            channels,
            positions,
            sim.n_latents,
            sim.noise_sd,
            sim.snr,
            latency_range,
        )
        truth = truth.with_shared(common, float(sim.shared_fraction))
    return truth


def study_driving_latents(sim: Any, latents: np.ndarray) -> tuple[np.ndarray, NonlinearMap | None]:
    """The latents every subject of the study responds to (``latents`` itself for the linear
    truth), and the nonlinear map (None for the linear truth)."""
    return driving_latents(
        latents, float(sim.nonlinear_share), int(sim.nonlinear_hidden), int(sim.seed)
    )


def subject_truth_arrays(sim: Any, driving: np.ndarray) -> dict[str, np.ndarray]:
    """Arrays a subject's ground truth adds for the options that are on (none when both are off):
    ``nonlinear_share``, ``nonlinear_hidden``, ``driving_latents`` (images × latents, rows of
    ``images.tsv``); ``shared_fraction``."""
    arrays: dict[str, np.ndarray] = {}
    if sim.nonlinear_share > 0:
        arrays["nonlinear_share"] = np.float64(sim.nonlinear_share)
        arrays["nonlinear_hidden"] = np.int64(sim.nonlinear_hidden)
        arrays["driving_latents"] = np.asarray(driving, dtype=np.float64)
    if sim.shared_fraction > 0:
        arrays["shared_fraction"] = np.float64(sim.shared_fraction)
    return arrays


def truth_record(sim: Any) -> dict[str, np.ndarray]:
    """What the truth of the prepared data records of the options: ``truth_function``
    (``linear``/``nonlinear``), ``nonlinear_share``, ``nonlinear_hidden``, ``shared_fraction``."""
    share = float(sim.nonlinear_share)
    return {
        "truth_function": np.asarray("nonlinear" if share > 0 else "linear"),
        "nonlinear_share": np.float64(share),
        "nonlinear_hidden": np.int64(sim.nonlinear_hidden if share > 0 else 0),
        "shared_fraction": np.float64(sim.shared_fraction),
    }


def responding_latents(latents: np.ndarray, subject_arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The latents a subject's responses were driven by: its ground truth's ``driving_latents``
    when it has them (nonlinear truth), else the image latents."""
    driving = subject_arrays.get("driving_latents")
    if driving is None:
        return latents
    if driving.shape != latents.shape:
        raise DataError(
            f"the subject's driving latents have shape {driving.shape}; expected the study's "
            f"latents' {latents.shape}"
        )
    return driving
