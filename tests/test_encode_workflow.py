"""Real Snakemake: simulate → preprocess → features → encode → evaluate on a tiny EEG study."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

EEG = {
    "format": "things_eeg2",
    "source": "simulated",
    "subjects": [1],
    "simulation": {
        "seed": 12,
        "n_sessions": 2,
        "n_train_concepts": 4,
        "images_per_concept": 3,
        "sessions_per_train_image": 2,
        "train_reps_per_session": 2,
        "n_test_images": 4,
        "test_reps_per_session": 2,
        "targets_per_session": 1,
        "image_size": 64,
        "n_latents": 2,
    },
}
SUB = "wf_eeg/alexnet_untrained/sub-01"
EVALUATION = f"results/evaluation/{SUB}/evaluation.npz"


def test_encode_and_evaluate_rules_run_for_real(tmp_path):
    config = {
        "datasets": {"wf_eeg": EEG},
        "backbones": {"alexnet_untrained": {}},
        "encoding": {"n_components": 3, "pca": {"block_size": 50000}},
    }
    workdir = make_workdir(tmp_path, config)
    run_snakemake(workdir, "--cores", "2", EVALUATION)

    model = json.loads((workdir / f"results/models/{SUB}/split-single-3/model.json").read_text())
    assert model["train_repetitions"] == [2] and model["seeds"]["pca"] == 20200220 + 1000 + 30
    assert model["target_shape"] == [63, 140]
    with np.load(workdir / f"results/models/{SUB}/split-all/regression.npz") as reg:
        assert reg["coef_"].shape == (63 * 140, 3)
    with np.load(workdir / EVALUATION) as ev:
        assert ev["correlation"].shape == (5, 63, 140)
        assert ev["test_predictions"].shape == (5, 4, 63, 140)
        assert float(ev["n_test_repetitions"]) == pytest.approx(4)
    summary = json.loads((workdir / f"results/evaluation/{SUB}/summary.json").read_text())
    assert set(summary["splits"]) == {"all", "single-1", "single-2", "single-3", "single-4"}
    assert (workdir / "logs/encode/wf_eeg/alexnet_untrained/sub-01_split-all.log").is_file()
    again = run_snakemake(workdir, "--cores", "2", EVALUATION)
    assert "Nothing to be done" in again.stdout + again.stderr
