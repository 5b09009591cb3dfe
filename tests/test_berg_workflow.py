"""The real chain under Snakemake: simulate → preprocess → features → encode → evaluate → export.

Encoding the test images through ``bergforge.BERG`` must reproduce the evaluation stage's own
``test_predictions``; the tree, plots and card must exist; a rerun has nothing to do.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from bergforge.berg.verify import relative_errors
from conftest import make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

EEG_MODEL = (
    "results/berg/encoding_models/modality-eeg/train_dataset-tiny_eeg_berg/model-alexnet_untrained"
)
MEG_MODEL = (
    "results/berg/encoding_models/modality-meg/train_dataset-things_meg_1/model-alexnet_untrained"
)
SMALL_SIMULATION = {
    "seed": 8,
    "n_sessions": 4,
    "n_train_concepts": 4,
    "images_per_concept": 3,
    "n_test_images": 8,
    "test_reps_per_session": 2,
    "targets_per_session": 2,
    "image_size": 64,
    "n_latents": 4,
}


def config() -> dict:
    eeg = {"format": "things_eeg2", "source": "simulated", "subjects": [1]}
    meg = {"format": "things_meg1", "source": "simulated", "subjects": [2]}
    return {
        "datasets": {
            "tiny": {**eeg, "name_in_berg": "tiny_eeg_berg", "simulation": SMALL_SIMULATION},
            "tiny_meg": {**meg, "simulation": {"seed": 7}},
        },
        "backbones": {"alexnet_untrained": {}},
        "encoding": {"n_components": 4},
    }


def test_api_reproduces_the_pipelines_test_predictions(tmp_path):
    workdir = make_workdir(tmp_path, config())
    targets = [
        f"{EEG_MODEL}/encoding_models_weights/weights_subject-01.npy",
        f"{EEG_MODEL}/encoding_models_accuracy/encoding_accuracy_subject-01.png",
        f"{EEG_MODEL}/model_card.md",
    ]
    run_snakemake(workdir, *targets, "--cores", "2")
    errors = relative_errors(
        workdir / "results/berg",
        "eeg-tiny_eeg_berg-alexnet_untrained",
        1,
        workdir / "results/evaluation/tiny/alexnet_untrained/sub-01/evaluation.npz",
        workdir / "results/prepared/tiny/stimuli.tsv",
        workdir,
    )
    assert errors["single"] < 1e-4, errors

    metadata = np.load(
        workdir / EEG_MODEL / "metadata/metadata_subject-01.npy", allow_pickle=True
    ).item()
    assert metadata["encoding_models"]["correlation_single_repetitions"].shape == (4, 63, 140)
    assert metadata["encoding_models"]["test_img_info"]["test_img_files"].shape == (8,)
    card = yaml.safe_load((workdir / EEG_MODEL / "model_card.yaml").read_text())
    assert card["model_id"] == "eeg-tiny_eeg_berg-alexnet_untrained"
    assert card["data"]["n_train_images"] == 12 and card["data"]["n_test_repetitions"] == 8
    with Image.open(workdir / targets[1]) as img:
        assert img.size == (1500, 800)
    assert (workdir / "logs/export/eeg-tiny_eeg_berg-alexnet_untrained/subject-01.log").is_file()
    again = run_snakemake(workdir, *targets, "--cores", "2")
    assert "Nothing to be done" in again.stdout + again.stderr

    # the MEG model of the same config plans through the same chain (P2: the subject's own files)
    plan = run_snakemake(workdir, f"{MEG_MODEL}/model_card.yaml", "-n", "--quiet", "rules")
    out = plan.stdout + plan.stderr
    for rule in (
        "encode_model",
        "evaluate_subject",
        "export_meg_subject",
        "plot_meg_accuracy",
        "model_card",
    ):
        assert rule in out
