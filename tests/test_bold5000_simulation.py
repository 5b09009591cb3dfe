"""The simulated BOLD5000-like decoding study goes through the real reading path (events, GIFTI
runs, sphere.reg projection, cleaning, windows) and the windows carry the truth: regressing them on
the driving latents recovers each latent's map on fsaverage5 (the subject's sphere is turned by
60°: the maps fit only where the projection undid the turn)."""

from __future__ import annotations

import numpy as np
import pytest

from bergforge.datasets import bold5000 as b5
from bergforge.errors import ConfigError
from bergforge.preprocess.bold_prepare import prepare_bold_subject
from bergforge.preprocess.decoding_split import decoding_split
from bergforge.preprocess.sphere_projection import fsaverage_projection
from bergforge.preprocess.trial_responses import PreparedTrials
from bergforge.simulate.bold5000 import (
    hemisphere_directions,
    maps_at,
    write_images,
    write_subject,
)
from bergforge.simulate.bold5000_settings import Bold5000Simulation

SIM = Bold5000Simulation(
    runs_per_session=3, trials_per_run=14, n_test_images=6, noise_sd=0.05, rotation_deg=60.0
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    raw = tmp_path_factory.mktemp("bold5000")
    SIM.check("datasets.sim.simulation")
    table = write_images(raw, SIM)
    latents = np.random.default_rng(0).standard_normal((len(table), SIM.n_latents))
    write_subject(raw, SIM, 1, table, latents)
    repeated = b5.read_repeated(raw)
    trials = b5.trial_table(raw, 1, repeated, raw, runs=SIM.runs())
    trials["split"] = decoding_split(trials, repeated, 0.5)
    surf = b5.freesurfer_surf(raw, 1)
    projections = {
        name: fsaverage_projection(surf / f"{fs_hemi}.sphere.reg", name)
        for fs_hemi, name in (("lh", "left"), ("rh", "right"))
    }
    out = prepare_bold_subject(
        trials,
        lambda s, r, h: b5.surface_run_path(raw, 1, s, r, h),
        projections,
        raw / "sub-01.zarr",
        dataset="sim",
    )
    return raw, table, latents, PreparedTrials(out)


def test_the_study_has_the_design_it_was_given(study):
    raw, table, _, store = study
    assert len(table) == SIM.n_test_images + SIM.n_train_images
    trials = store.trials
    assert len(trials) == SIM.n_trials == 42
    shown = trials.loc[trials.split == "test", "image"].value_counts()
    assert len(shown) == SIM.n_test_images and set(shown) == {SIM.test_presentations}
    assert trials.loc[trials.split != "test", "image"].is_unique
    assert set(trials.split) == {"train", "validation", "test"}
    for _, row in table.iterrows():
        assert (raw / row.file).is_file()


def test_windows_recover_the_true_maps_on_fsaverage5(study):
    raw, table, latents, store = study
    truth = np.load(raw / "ground_truth" / "sub-CSI1_truth.npz")
    maps = truth["maps_fsaverage"]  # [latent, 20,484]
    rows = {name: k for k, name in enumerate(table.image_id)}
    drive = latents[[rows[i] for i in store.trials.image]]
    windows = store.read()[:, :, 1:4].mean(axis=2)  # 4–8 s after onset: the HRF's peak
    design = np.column_stack([np.ones(len(drive)), drive])
    beta = np.linalg.lstsq(design, windows, rcond=None)[0][1:]  # [latent, vertex]
    r = [np.corrcoef(beta[j], maps[j])[0, 1] for j in range(SIM.n_latents)]
    assert min(r) > 0.7, r
    # without the projection, fsaverage5 vertex u would hold the subject's vertex u, which sits
    # where the turn moved it: the maps there fit the windows worse, latent by latent
    (left, _), (right, _) = hemisphere_directions()
    turn = truth["rotation"]
    unturned = maps_at(SIM, 1, left @ turn.T, right @ turn.T)
    wrong = [np.corrcoef(beta[j], unturned[j])[0, 1] for j in range(SIM.n_latents)]
    assert all(a > b for a, b in zip(r, wrong, strict=True)), (r, wrong)
    assert np.mean(r) - np.mean(wrong) > 0.1, (r, wrong)


def test_a_design_without_room_for_training_images_is_refused():
    with pytest.raises(ConfigError, match="fewer than the 6 × 4 test presentations"):
        Bold5000Simulation(trials_per_run=10, test_presentations=4).check("datasets.sim.simulation")
    with pytest.raises(ConfigError, match="shared_fraction = 1.5; expected a number in"):
        Bold5000Simulation(shared_fraction=1.5).check("datasets.sim.simulation")
