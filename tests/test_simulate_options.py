"""The truth options of the MEG/EEG simulator: a nonlinear truth and maps shared across subjects.

Off (the default) they change no draw and no file; on, the shared maps correlate across subjects
as the documented fraction says, and a linear fit on the latents leaves exactly the documented
share of each target's signal unexplained (computed here directly, by least squares).
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bergforge.datasets.sensors import EEG_CHANNELS, eeg_positions
from bergforge.errors import ConfigError
from bergforge.simulate import things_eeg2, things_meg
from bergforge.simulate.options import (
    responding_latents,
    study_driving_latents,
    truth_record,
)
from bergforge.simulate.study import simulate_subject, simulation_params, truth_path
from bergforge.simulate.truth import SubjectTruth, image_latents
from conftest import TINY_EEG

TIMES = things_eeg2.prepared_times()


def _latents(n_images: int, m: int, seed: int = 0) -> np.ndarray:
    """Latents as the simulator makes them: principal components of some features."""
    features = np.random.default_rng(seed).standard_normal((n_images, 40)) @ np.diag(
        np.linspace(3, 0.5, 40)
    )
    return image_latents(features, m)


def test_options_off_draw_exactly_what_the_simulator_always_drew():
    sim = things_eeg2.EegSimulation(seed=5, n_latents=4)
    assert (sim.nonlinear_share, sim.shared_fraction) == (0.0, 0.0)
    truth, rng = things_eeg2.subject_truth(sim, 2)
    # the draw as it was before the options existed, written out here
    names = list(EEG_CHANNELS)
    old_rng = np.random.default_rng([5, 2, 22])
    old = SubjectTruth.draw(old_rng, names, eeg_positions(names)[:, :2], 4, 4e-6, 1.0, (0.08, 0.35))
    for field in ("spatial", "latency", "width", "evoked_spatial", "noise_sd"):
        np.testing.assert_array_equal(getattr(truth, field), getattr(old, field))
    assert truth.component_latent is None
    assert rng.bit_generator.state == old_rng.bit_generator.state  # noise, offsets: the same
    latents = _latents(50, 4)
    driving, mapping = study_driving_latents(sim, latents)
    assert driving is latents and mapping is None
    # the options on leave the subject's own stream where it was: its noise is the same
    on = replace(sim, shared_fraction=0.5, nonlinear_share=0.5)
    assert things_eeg2.subject_truth(on, 2)[1].bit_generator.state == old_rng.bit_generator.state
    np.testing.assert_array_equal(things_eeg2.subject_truth(on, 2)[0].noise_sd, old.noise_sd)


@pytest.mark.parametrize("fraction", [0.3, 0.8])
def test_shared_maps_correlate_across_subjects_as_the_fraction_says(fraction):
    """Map of latent j of subject s: K_s = √ρ C + √(1−ρ) U_s with C, U_s drawn alike, so
    E⟨K_1, K_2⟩ / E‖K‖² = ρ. Pooled over 300 latents the ratio's sampling error is about 0.01;
    mixing with weights ρ and 1−ρ instead of their roots would give ρ²/(ρ²+(1−ρ)²) (0.16, 0.94)."""
    n = 300
    sim = things_eeg2.EegSimulation(seed=3, n_latents=n, shared_fraction=fraction)
    k1, k2 = (things_eeg2.subject_truth(sim, s)[0].kernels(TIMES)[0].reshape(n, -1) for s in (1, 2))
    pooled = (k1 * k2).sum() / np.sqrt((k1**2).sum() * (k2**2).sum())
    assert pooled == pytest.approx(fraction, abs=0.04)
    # the signal is as strong as without sharing (same distribution of map energy)
    alone = things_eeg2.subject_truth(replace(sim, shared_fraction=0.0), 1)[0].kernels(TIMES)[0]
    assert (k1**2).sum() / (alone**2).sum() == pytest.approx(1.0, abs=0.15)
    # independent subjects (the default) do not correlate
    i1, i2 = (
        things_eeg2.subject_truth(replace(sim, shared_fraction=0.0), s)[0].kernels(TIMES)[0]
        for s in (1, 2)
    )
    assert abs((i1 * i2).sum() / np.sqrt((i1**2).sum() * (i2**2).sum())) < 0.05


def test_fully_shared_maps_are_the_same_for_every_subject():
    sim = things_meg.MegSimulation(seed=4, n_latents=3, shared_fraction=1.0)
    times = things_meg.prepared_times()
    k1 = things_meg.subject_truth(sim, 1)[0].kernels(times)[0]
    k2 = things_meg.subject_truth(sim, 2)[0].kernels(times)[0]
    np.testing.assert_allclose(k1, k2, rtol=0, atol=1e-12 * np.abs(k1).max())
    assert k1.shape == (3, 272, times.size)


@pytest.mark.parametrize("share", [0.4, 1.0])
def test_a_linear_fit_on_the_latents_leaves_the_nonlinear_share_unexplained(share):
    latents = _latents(120, 4)
    sim = things_eeg2.EegSimulation(seed=9, n_latents=4, nonlinear_share=share)
    driving, mapping = study_driving_latents(sim, latents)
    truth = things_eeg2.subject_truth(sim, 1)[0]
    responses = truth.responses(driving, TIMES).reshape(len(latents), -1)
    signal = responses.var(axis=0) > 1e-12 * responses.var(axis=0).max()
    y = responses[:, signal]

    def unexplained(x: np.ndarray) -> np.ndarray:
        design = np.hstack([np.ones((len(x), 1)), x])
        residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
        return (residual**2).sum(axis=0) / ((y - y.mean(axis=0)) ** 2).sum(axis=0)

    np.testing.assert_allclose(unexplained(latents), share, atol=1e-8)
    np.testing.assert_allclose(unexplained(driving), 0.0, atol=1e-8)  # linear in d(z)
    # the signal variance is the linear truth's: d has the latents' identity covariance
    linear = truth.responses(latents, TIMES).reshape(len(latents), -1)[:, signal]
    np.testing.assert_allclose(y.var(axis=0), linear.var(axis=0), rtol=1e-8)
    # a deterministic function of the latents, the same for every subject of the study
    again, _ = study_driving_latents(sim, latents)
    np.testing.assert_array_equal(again, driving)
    np.testing.assert_allclose(mapping.apply(latents[:7]), driving[:7], rtol=1e-12, atol=1e-12)
    other, _ = study_driving_latents(replace(sim, seed=10), latents)
    assert not np.allclose(other, driving)


def test_the_options_are_recorded_in_the_subject_truth(tiny_eeg, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(tiny_eeg / "ground_truth", raw / "ground_truth")
    (raw / "ground_truth" / "sub-01_truth.npz").unlink()
    sim = {**TINY_EEG["simulation"], "nonlinear_share": 0.5, "shared_fraction": 0.6}
    table = raw / "ground_truth" / "images.tsv"
    simulate_subject("things_eeg2", sim, "tiny", raw, table, raw / "ground_truth/latents.npz", 1)
    truth, arrays = SubjectTruth.load(truth_path(raw, "things_eeg2", 1))
    with np.load(raw / "ground_truth" / "latents.npz") as data:
        latents = data["latents"]
    assert float(arrays["nonlinear_share"]) == 0.5 and float(arrays["shared_fraction"]) == 0.6
    params = simulation_params("things_eeg2", sim, "tiny")
    np.testing.assert_array_equal(
        arrays["driving_latents"], study_driving_latents(params, latents)[0]
    )
    assert responding_latents(latents, arrays) is arrays["driving_latents"]
    assert truth.component_latent.tolist() == [0, 1, 2, 3] * 2
    # the analytic ceiling of the raw trials is that of the driving latents' responses
    test_rows = np.flatnonzero(pd.read_csv(table, sep="\t").split.to_numpy() == "test")
    expected = truth.analytic_noise_ceiling(
        truth.responses(arrays["driving_latents"][test_rows], TIMES), params.test_reps
    )[1]
    np.testing.assert_allclose(arrays["noise_ceiling"], expected)
    # the tiny study of the session (options off) records none of them
    _, plain = SubjectTruth.load(truth_path(tiny_eeg, "things_eeg2", 1))
    assert not {"driving_latents", "nonlinear_share", "shared_fraction"} & set(plain)
    assert responding_latents(latents, plain) is latents
    record = truth_record(params)
    assert str(record["truth_function"]) == "nonlinear" and float(record["shared_fraction"]) == 0.6
    linear = truth_record(simulation_params("things_eeg2", TINY_EEG["simulation"], "tiny"))
    assert str(linear["truth_function"]) == "linear" and float(linear["nonlinear_share"]) == 0.0


@pytest.mark.parametrize(
    "key, value", [("nonlinear_share", 1.5), ("shared_fraction", -0.1), ("nonlinear_hidden", 0)]
)
def test_bad_option_values_are_one_clear_error(key, value):
    with pytest.raises(ConfigError, match=f"datasets.tiny.simulation.{key}"):
        simulation_params("things_meg1", {"seed": 1, key: value}, "tiny")
