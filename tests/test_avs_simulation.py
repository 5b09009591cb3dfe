"""The AVS-like simulated free-viewing study: determinism, overlap, stream truth, files."""

from __future__ import annotations

import json
from dataclasses import replace

import mne
import numpy as np
import pytest

from bergforge.datasets.avs_fixations import FixationTableSpec, read_fixation_table
from bergforge.datasets.sensors import triux_gradiometer_names
from bergforge.simulate.avs import (
    AvsSimulation,
    stream_kernels,
    study_scenes,
    subject_recording,
    write_study,
)

SIM = AvsSimulation(seed=3, n_scenes=4, image_size=64)


@pytest.fixture(scope="module")
def scenes():
    return study_scenes(SIM)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    raw_dir = tmp_path_factory.mktemp("avs")
    write_study(raw_dir, SIM)
    return raw_dir


def test_deterministic_per_seed(scenes):
    a = subject_recording(SIM, 2, scenes)
    b = subject_recording(SIM, 2, scenes)
    np.testing.assert_array_equal(a["data"], b["data"])
    assert a["table"].equals(b["table"])
    other = subject_recording(replace(SIM, seed=4), 2, study_scenes(replace(SIM, seed=4)))
    assert not np.array_equal(a["data"][:, :1000], other["data"][:, :1000])
    assert not a["table"]["x"].equals(subject_recording(SIM, 1, scenes)["table"]["x"])


def test_fixation_sequences_look_like_free_viewing(scenes):
    table = subject_recording(SIM, 1, scenes)["table"]
    per_scene = table.groupby("trial").size()
    assert 7 <= per_scene.mean() <= 14  # AVS: ~9 per 4-s scene
    assert 0.2 <= table["duration"].mean() <= 0.4
    assert ((table["x"] >= 0) & (table["x"] <= SIM.image_size)).all()


def test_responses_overlap_in_the_continuous_recording(scenes):
    """With no noise, the data at a fixation's onset sample (where its own response is still 0)
    is the tail of earlier fixations' responses: non-zero."""
    quiet = replace(SIM, noise_sd=0.0)
    rec = subject_recording(quiet, 1, scenes)
    table, data = rec["table"], rec["data"]
    times, shapes, _ = stream_kernels(quiet)
    assert all(s[0] == 0.0 for s in shapes.values())  # a fixation adds nothing at its own onset
    later = table.index[table["fixation"] > 1]
    onsets = np.round(table.loc[later, "onset"].to_numpy() * quiet.sfreq).astype(int)
    gap = table["onset"].diff().loc[later].to_numpy()  # from the previous fixation's onset
    at_onset = np.abs(data[:, onsets]).max(axis=0)
    assert (gap < 0.5).mean() > 0.5  # most fixations follow the previous within its response
    assert (at_onset[gap < 0.5] > 0.01 * np.abs(data).max()).all()
    assert times[-1] > table["duration"].median() + quiet.saccade_duration


def test_truth_streams_against_a_direct_computation(scenes):
    rec = subject_recording(SIM, 1, scenes)
    truth = rec["truth"]
    # temporal_shape peaks at its latency with value 1; the parafoveal bump peaks `lag` later
    fov = SIM.foveal_amplitude * truth["foveal_features"] @ truth["pattern_foveal"] * SIM.scale
    np.testing.assert_allclose(truth["foveal"], fov, rtol=1e-12)
    u = (SIM.width - SIM.parafoveal_lag) / SIM.width
    par_shape = (u * np.exp(1 - u)) ** 3
    par = SIM.parafoveal_amplitude * truth["parafoveal_features"] @ truth["pattern_parafoveal"]
    np.testing.assert_allclose(truth["parafoveal"], par * par_shape * SIM.scale, rtol=1e-9)
    last = ~rec["table"]["has_next"].to_numpy()
    assert last.sum() == SIM.n_scenes and (truth["parafoveal"][last] == 0).all()
    assert np.ptp(truth["eye"], axis=0).max() == 0  # the same for every fixation
    # the prepared signal at 110 ms is the noise-free recording there (own + overlapping responses)
    at = np.round((rec["table"]["onset"].to_numpy() + SIM.latency) * SIM.sfreq).astype(int)
    np.testing.assert_array_equal(truth["prepared_signal"], truth["signal"][:, at].T)
    own = truth["eye"] + truth["foveal"] + truth["parafoveal"]
    assert np.abs(truth["prepared_signal"] - own).max() > 0  # the overlap is part of it


def test_a_study_without_parafoveal_weight_has_no_parafoveal_part(scenes):
    none = replace(SIM, parafoveal_amplitude=0.0)
    with_par = subject_recording(SIM, 1, scenes)
    without = subject_recording(none, 1, scenes)
    assert (without["truth"]["parafoveal"] == 0).all()
    assert with_par["truth"]["parafoveal"].var(axis=0).mean() > 0
    np.testing.assert_array_equal(without["truth"]["foveal"], with_par["truth"]["foveal"])
    # same noise draw: the recordings differ by the parafoveal responses alone
    diff = with_par["data"] - without["data"]
    np.testing.assert_allclose(
        diff, with_par["truth"]["signal"] - without["truth"]["signal"], atol=1e-25
    )
    assert np.abs(diff).max() > 0


def test_subjects_share_structure():
    from bergforge.simulate.avs import subject_patterns

    def corr(sim):
        a, b = (subject_patterns(sim, s)["foveal"].ravel() for s in (1, 2))
        return np.corrcoef(a, b)[0, 1]

    assert corr(SIM) > 0.6  # shared_fraction 0.7
    assert corr(replace(SIM, shared_fraction=1.0)) == pytest.approx(1.0)
    assert abs(corr(replace(SIM, shared_fraction=0.0))) < 0.4


def test_saccade_locked_eye_component_starts_earlier(scenes):
    sac = replace(SIM, lock="saccade")
    _, shapes, offset = stream_kernels(sac)
    assert offset["eye"] == -SIM.saccade_duration and offset["foveal"] == 0.0
    truth = subject_recording(sac, 1, scenes)["truth"]
    k = int(round((SIM.latency + SIM.saccade_duration) * SIM.sfreq))
    np.testing.assert_allclose(
        truth["eye"][0], SIM.eye_amplitude * truth["pattern_eye"] * shapes["eye"][k] * SIM.scale
    )


def test_written_study(study):
    import h5py

    with h5py.File(study / "nsd_stimuli.hdf5", "r") as f:  # NSD's stimulus file: id = row
        np.testing.assert_array_equal(f["imgBrick"][:], study_scenes(SIM))
    spec = FixationTableSpec.from_config(
        json.loads((study / "study.json").read_text())["fixation_table"]
    )
    assert len(SIM.train_subjects) >= 4
    for subject in SIM.subjects:
        label = f"sub-{subject:02d}"
        raw = mne.io.read_raw_fif(
            study / label / "meg" / f"{label}_task-avs_meg.fif", verbose="error"
        )
        assert raw.ch_names == triux_gradiometer_names() and len(raw.ch_names) == 204
        assert raw.ch_names[:3] == ["MEG0112", "MEG0113", "MEG0122"]
        assert set(raw.get_channel_types()) == {"grad"} and raw.info["sfreq"] == 500.0
        table = read_fixation_table(study / label / f"{label}_fixations.tsv", spec)
        assert table["onset"].max() + 0.5 < raw.times[-1]
        summary = json.loads((study / "ground_truth" / f"{label}_truth.json").read_text())
        assert summary["heldout"] == (subject == 60)
        assert summary["n_fixations"] == len(table)
        assert summary["noise_variance"] == pytest.approx((SIM.noise_sd * SIM.scale) ** 2)
        assert set(summary["stream_variance"]) == {"eye", "foveal", "parafoveal"}
        assert 0 < summary["ceiling_r_median"] < 1


def test_bad_simulation_settings_are_config_errors():
    from bergforge.errors import ConfigError

    with pytest.raises(ConfigError, match="lock 'blink'"):
        replace(SIM, lock="blink")
    with pytest.raises(ConfigError, match="held-out subject"):
        replace(SIM, heldout_subject=1)
