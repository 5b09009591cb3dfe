"""Real Snakemake: simulate + preprocess rules on a tiny config produce the prepared stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import zarr

from conftest import make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

MEG = {
    "format": "things_meg1",
    "source": "simulated",
    "subjects": [2],
    "simulation": {
        "seed": 3,
        "n_sessions": 2,
        "runs_per_session": 1,
        "n_train_concepts": 4,
        "images_per_concept": 2,
        "n_test_images": 4,
        "catch_per_run": 1,
        "image_size": 64,
        "n_latents": 2,
        "sfreq": 400.0,  # decimated by 2 to 200 Hz: a third of THINGS-MEG's 1,200 Hz to simulate
    },
}
EEG = {
    "format": "things_eeg2",
    "source": "simulated",
    "subjects": [1],
    "simulation": {
        "seed": 4,
        "n_sessions": 2,
        "n_train_concepts": 2,
        "images_per_concept": 2,
        "train_reps_per_session": 1,
        "n_test_images": 3,
        "test_reps_per_session": 2,
        "targets_per_session": 2,
        "image_size": 64,
        "n_latents": 2,
    },
}
TARGETS = [
    "results/prepared/wf_meg/stimuli.tsv",
    "results/prepared/wf_meg/sub-02.zarr",
    "results/prepared/wf_eeg/stimuli.tsv",
    "results/prepared/wf_eeg/sub-01.zarr",
]


def test_simulate_and_preprocess_rules_run_for_real(tmp_path):
    config = {
        "datasets": {"wf_meg": MEG, "wf_eeg": EEG},
        "preprocess": {"meg": {"mode": "mean"}, "eeg": {"train_reps": 2}},
    }
    workdir = make_workdir(tmp_path, config)
    run_snakemake(workdir, "--cores", "2", *TARGETS)

    meg = zarr.open_group(workdir / TARGETS[1], mode="r")
    assert meg["train"].shape == (8, 1, 271, 281) and meg["test"].shape == (4, 2, 271, 281)
    assert meg.attrs["subject"] == 2 and meg.attrs["baseline_mode"] == "mean"
    eeg = zarr.open_group(workdir / TARGETS[3], mode="r")
    assert eeg["train"].shape == (4, 2, 63, 140) and eeg["test"].shape == (3, 4, 63, 140)
    assert eeg.attrs["ch_type"] == "csd"
    for group in (meg, eeg):
        assert not np.isnan(group["train"][:]).any() and not np.isnan(group["test"][:]).any()

    for target, n in ((TARGETS[0], 12), (TARGETS[2], 7)):
        stimuli = pd.read_csv(workdir / target, sep="\t")
        assert len(stimuli) == n
        assert all((workdir / f).is_file() for f in stimuli.file), "files relative to workdir"
    assert (workdir / "logs/preprocess/wf_meg/sub-02.log").is_file()
    assert not list((workdir / "results/prepared/wf_meg").glob(".*")), "no temporaries left"
    again = run_snakemake(workdir, "--cores", "2", *TARGETS)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_published_epochs_datasets_plan_the_epochs_rule(tmp_path):
    config = {
        "datasets": {"wf_meg": MEG, "wf_meg_epochs": dict(MEG, subjects=[1])},
        "preprocess": {"meg_published_epochs": ["wf_meg_epochs"]},
    }
    workdir = make_workdir(tmp_path, config)
    epochs = workdir / "resources/raw/wf_meg_epochs/derivatives/preprocessed"
    epochs.mkdir(parents=True)
    (epochs / "preprocessed_P1-epo.fif").write_bytes(b"")
    plan = run_snakemake(
        workdir,
        "-n",
        "results/prepared/wf_meg_epochs/sub-01.zarr",
        "results/prepared/wf_meg/sub-02.zarr",
    )
    out = plan.stdout + plan.stderr
    assert "preprocess_meg_subject_from_epochs" in out
    assert "preprocessed_P1-epo.fif" in out
    assert "rule preprocess_meg_subject:" in out, "the other dataset still uses the raw runs"

    config["preprocess"]["meg_published_epochs"] = ["no_such_dataset"]
    (tmp_path / "bad").mkdir()
    workdir = make_workdir(tmp_path / "bad", config)
    bad = run_snakemake(workdir, "-n", check=False)
    assert bad.returncode != 0
    assert "preprocess.meg_published_epochs names ['no_such_dataset']" in bad.stdout + bad.stderr
