"""The BOLD5000 preprocessing jobs on a tiny simulated study in ds001499's layout: the study's
trial table has the task's split (checked against the repeated list and scikit-learn's own draw of
validation runs), stimuli.tsv lists every image once, a missing image is one error with nothing
written, and one subject's store holds its own trials with windows equal to a direct computation
from its GIFTI runs."""

from __future__ import annotations

import math
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.signal import detrend
from sklearn.model_selection import train_test_split

from bergforge.datasets import bold5000 as b5
from bergforge.errors import DataError
from bergforge.preprocess.bold5000_jobs import prepare_windows_job, write_trials_job
from bergforge.preprocess.sphere_projection import fsaverage_projection
from bergforge.preprocess.stimuli import read_stimuli
from bergforge.preprocess.study_trials import read_study_trials
from bergforge.preprocess.trial_responses import PreparedTrials
from bergforge.simulate.bold5000 import write_images, write_subject
from bergforge.simulate.bold5000_settings import Bold5000Simulation

SIM = Bold5000Simulation(
    seed=3,
    n_sessions=1,
    runs_per_session=3,
    trials_per_run=6,
    n_test_images=2,
    test_presentations=2,
    image_size=16,
    n_latents=3,
)
SUBJECTS = (1, 2)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("bold5000_raw")
    table = write_images(root, SIM)
    latents = np.random.default_rng(0).standard_normal((len(table), SIM.n_latents))
    for subject in SUBJECTS:
        write_subject(root, SIM, subject, table, latents)
    return root, table


def runs() -> dict[int, list[tuple[int, int]]]:
    return {s: SIM.runs() for s in SUBJECTS}


@pytest.fixture(scope="module")
def written(raw, tmp_path_factory):
    root, _ = raw
    out = tmp_path_factory.mktemp("prepared")
    write_trials_job(root, runs(), out / "trials.tsv", out / "stimuli.tsv")
    return out


def test_the_trial_table_has_the_task_split(raw, written):
    root, _ = raw
    trials = read_study_trials(written / "trials.tsv")
    assert len(trials) == len(SUBJECTS) * SIM.n_trials
    assert list(trials.subject.unique()) == list(SUBJECTS)
    repeated = set((root / b5.REPEATED_LIST).read_text().split())
    assert len(repeated) == SIM.n_test_images
    # test: every presentation of a repeated image, in every run
    test = trials.image.isin(repeated)
    assert (trials.split[test] == "test").all() and (trials.split[~test] != "test").all()
    assert test.sum() == len(SUBJECTS) * SIM.n_test_images * SIM.test_presentations
    # validation: the training trials of whole runs, chosen among every subject's runs
    timelines = sorted({(s, se, r) for s, se, r in trials[["subject", "session", "run"]].values})
    chosen = train_test_split(np.arange(len(timelines)), test_size=0.2, random_state=33)[1]
    assert len(chosen) == math.ceil(0.2 * len(timelines)) == 2  # sklearn rounds up
    held_out = {timelines[i] for i in chosen}
    in_held_out = np.array(
        [tuple(t) in held_out for t in trials[["subject", "session", "run"]].values]
    )
    assert (trials.split[in_held_out & ~test] == "validation").all()
    assert (trials.split[~in_held_out & ~test] == "train").all()
    assert (trials.onset > 0).all() and trials.trial.between(1, SIM.trials_per_run).all()


def test_stimuli_list_every_image_once_training_images_first(raw, written):
    _, images = raw
    stimuli = read_stimuli(written / "stimuli.tsv")
    assert sorted(stimuli.image_id) == sorted(images.image_id)
    assert list(stimuli.split) == ["train"] * SIM.n_train_images + ["test"] * SIM.n_test_images
    expected = dict(zip(images.image_id, images.split, strict=True))
    assert all(expected[i] == s for i, s in zip(stimuli.image_id, stimuli.split, strict=True))
    for _, part in stimuli.groupby("split"):
        assert list(part["index"]) == list(range(len(part)))
    kinds = dict(zip(images.image_id, images.kind, strict=True))
    assert [kinds[i] for i in stimuli.image_id] == list(stimuli.img_type)
    root, _ = raw
    files = {i: str(root / f) for i, f in zip(images.image_id, images.file, strict=True)}
    assert [files[i] for i in stimuli.image_id] == list(stimuli.file)


def test_a_missing_image_is_one_error_and_nothing_is_written(raw, tmp_path):
    root, images = raw
    victim = root / images.file.iloc[-1]
    saved = victim.read_bytes()
    victim.unlink()
    try:
        with pytest.raises(
            DataError, match=rf"1 image\(s\) .* the first {re.escape(str(victim))} "
        ):
            write_trials_job(root, runs(), tmp_path / "trials.tsv", tmp_path / "stimuli.tsv")
    finally:
        victim.write_bytes(saved)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match=r"CSI2 has no run\(s\) \[\(16, 1\)\]"):
        write_trials_job(root, {2: [(16, 1)]}, tmp_path / "t.tsv", tmp_path / "s.tsv")
    with pytest.raises(
        DataError, match=r"sub-CSI2_ses-10_task-5000scenes_run-01_events.tsv: cannot"
    ):
        write_trials_job(root, {2: [(10, 1)]}, tmp_path / "t.tsv", tmp_path / "s.tsv")  # not run
    assert list(tmp_path.iterdir()) == []


def test_a_subject_store_holds_its_windows(raw, written, tmp_path):
    root, _ = raw
    out = prepare_windows_job(
        written / "trials.tsv", root, 2, tmp_path / "sub-02.zarr", dataset="b"
    )
    store = PreparedTrials(out)
    trials = read_study_trials(written / "trials.tsv")
    own = trials[trials.subject == 2].reset_index(drop=True)
    assert store.subject == 2 and store.n_trials == len(own) == SIM.n_trials
    assert list(store.trials.split) == list(own.split)
    assert list(store.trials.image) == list(own.image)
    # the second run's windows from its GIFTI files: projection, then detrend, z-score, window
    session, run = SIM.runs()[1]
    surf = b5.freesurfer_surf(root, 2)
    halves = []
    for hemi, name, label in (("lh", "left", "L"), ("rh", "right", "R")):
        image = nib.load(b5.surface_run_path(root, 2, session, run, label))
        bold = np.stack([d.data for d in image.darrays], axis=1).astype(np.float64)
        halves.append(fsaverage_projection(surf / f"{hemi}.sphere.reg", name).matrix @ bold)
    x = detrend(np.concatenate(halves), axis=1)
    x /= x.std(axis=1, ddof=1, keepdims=True)
    rows = np.flatnonzero((own.session == session) & (own.run == run))
    data = store.read(rows)
    for k, onset in zip(range(len(rows)), own.onset[rows], strict=True):
        first = round((onset + 2.0) / 2.0)
        np.testing.assert_allclose(data[k], x[:, first : first + 4], atol=2e-4)
    assert data.shape[1:] == (20_484, 4)


def test_a_subject_without_trials_is_one_error(raw, written, tmp_path):
    root, _ = raw
    with pytest.raises(DataError, match=r"has no trials of subject 3; expected subjects \[1, 2\]"):
        prepare_windows_job(written / "trials.tsv", root, 3, tmp_path / "sub-03.zarr", dataset="b")
    assert not (tmp_path / "sub-03.zarr").exists()
    broken = tmp_path / "trials.tsv"
    table = pd.read_csv(written / "trials.tsv", sep="\t").drop(columns=["split"])
    table.to_csv(broken, sep="\t", index=False)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['split'\]"):
        read_study_trials(broken)
