"""The real chain under Snakemake: simulate → preprocess → features → encode → evaluate → export.

Runs on the session's tiny chain (``tiny_built`` in conftest). Encoding the test images through
``bergforge.BERG`` must reproduce the evaluation stage's own ``test_predictions``; the tree, plots
and card must exist.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from bergforge.api.verify import relative_errors

pytestmark = pytest.mark.workflow

EEG_MODEL = (
    "results/berg/encoding_models/modality-eeg/train_dataset-tiny_eeg_berg/model-alexnet_untrained"
)
MEG_MODEL = (
    "results/berg/encoding_models/modality-meg/train_dataset-things_meg_1/model-alexnet_untrained"
)


def test_api_reproduces_the_pipelines_test_predictions(tiny_built):
    workdir = tiny_built
    errors = relative_errors(
        workdir / "results/berg",
        "eeg-tiny_eeg_berg-alexnet_untrained",
        1,
        workdir / "results/evaluation/tiny/alexnet_untrained/sub-01/evaluation.npz",
        workdir / "results/prepared/tiny/stimuli.tsv",
        workdir,
    )
    assert errors["single"] < 1e-4, errors
    meg_errors = relative_errors(
        workdir / "results/berg",
        "meg-things_meg_1-alexnet_untrained",
        2,
        workdir / "results/evaluation/tiny_meg/alexnet_untrained/sub-02/evaluation.npz",
        workdir / "results/prepared/tiny_meg/stimuli.tsv",
        workdir,
    )
    assert max(meg_errors.values()) < 1e-4, meg_errors


def test_export_tree_metadata_plots_and_card(tiny_built):
    workdir = tiny_built
    metadata = np.load(
        workdir / EEG_MODEL / "metadata/metadata_subject-01.npy", allow_pickle=True
    ).item()
    assert metadata["encoding_models"]["correlation_single_repetitions"].shape == (4, 63, 140)
    assert metadata["encoding_models"]["test_img_info"]["test_img_files"].shape == (8,)
    assert metadata["bergforge"]["backbone"]["name"] == "alexnet_untrained"
    assert len(metadata["bergforge"]["backbone"]["layers"]) == 8
    card = yaml.safe_load((workdir / EEG_MODEL / "model_card.yaml").read_text())
    assert card["model_id"] == "eeg-tiny_eeg_berg-alexnet_untrained"
    assert card["data"]["n_train_images"] == 12 and card["data"]["n_test_repetitions"] == 8
    plot = workdir / EEG_MODEL / "encoding_models_accuracy/encoding_accuracy_subject-01.png"
    with Image.open(plot) as img:
        assert img.size == (1500, 800)
    assert (workdir / EEG_MODEL / "model_card.md").is_file()
    assert (workdir / "logs/export/eeg-tiny_eeg_berg-alexnet_untrained/subject-01.log").is_file()
    weights = workdir / MEG_MODEL / "encoding_models_weights"
    for name in (
        "weights_P2_all_training_splits.npy",
        "weights_P2_single_training_split_4.npy",
    ):
        assert (weights / name).is_file(), name
    assert (workdir / MEG_MODEL / "metadata/metadata_P2.npy").is_file()
    assert yaml.safe_load((workdir / MEG_MODEL / "model_card.yaml").read_text())["model_id"] == (
        "meg-things_meg_1-alexnet_untrained"
    )
