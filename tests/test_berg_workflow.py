"""The real chain under Snakemake: simulate → preprocess → features → encode → evaluate → export.

Runs on the session's tiny chain (``tiny_built`` in conftest). Encoding images through
``bergforge.BERG`` (which equals an independent reference of the exported files on BERG's inference
image path: ``test_demo_exports.py``) must differ from the evaluation stage's own
``test_predictions`` (made on the training path) by exactly the difference of the two paths; the
tree, plots and card must exist.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from berg_reference import (
    alexnet_features,
    dataset_test_images,
    eeg_reference,
    meg_reference,
    relative_max,
)
from PIL import Image

from bergforge.api.verify import relative_errors

pytestmark = pytest.mark.workflow

EEG_MODEL = (
    "results/berg/encoding_models/modality-eeg/train_dataset-tiny_eeg_berg/model-alexnet_untrained"
)
MEG_MODEL = (
    "results/berg/encoding_models/modality-meg/train_dataset-things_meg_1/model-alexnet_untrained"
)
EEG_ID = "eeg-tiny_eeg_berg-alexnet_untrained"
MEG_ID = "meg-things_meg_1-alexnet_untrained"


def test_api_differs_from_the_pipeline_only_by_the_image_path(tiny_built):
    """The evaluation stage predicted from features of the preset on PIL (the features stage);
    the same independent readout on those features gives its test predictions, and the API's
    distance to them (``relative_errors``) is the distance between the two image paths."""
    workdir = tiny_built
    cases = [
        (EEG_ID, 1, "tiny", EEG_MODEL),
        (MEG_ID, 2, "tiny_meg", MEG_MODEL),
    ]
    for model_id, subject, dataset, folder in cases:
        evaluation = workdir / f"results/evaluation/{dataset}/alexnet_untrained/sub-{subject:02d}"
        errors = relative_errors(
            workdir / "results/berg",
            model_id,
            subject,
            evaluation / "evaluation.npz",
            workdir / f"results/prepared/{dataset}/stimuli.tsv",
            workdir,
        )
        preds = np.load(evaluation / "evaluation.npz")["test_predictions"]  # [split, image, …]
        pipeline = {"all": preds[0], "single": preds[1:].transpose(1, 0, 2, 3)}
        images = dataset_test_images(workdir, dataset)
        for name, error in errors.items():
            ref = {}
            for path in ("pil", "tensor"):
                feats = alexnet_features(images, path)
                if model_id == EEG_ID:
                    ref[path] = eeg_reference(workdir / folder, subject, feats)
                else:
                    ref[path] = meg_reference(workdir / folder, subject, feats, name)
            assert relative_max(ref["pil"], pipeline[name]) <= 1e-4, (model_id, name)
            assert error == pytest.approx(relative_max(ref["tensor"], pipeline[name]), rel=1e-3)
            assert error > 0, "the two image paths differ"  # tiny fits amplify it (up to ~5 %)


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
    paths = {"train": "preset_pil", "inference": "preset_uint8_tensor"}
    assert card["backbone"]["image_transform"] == paths
    assert "image_transform" not in metadata["bergforge"], "BERG's dicts get no new keys"
    toy = workdir / EEG_MODEL.replace("model-alexnet", "model-toy_alexnet")
    own = json.loads((toy / "bergforge_model.json").read_text())
    assert own["provenance"]["image_transform"] == paths
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
