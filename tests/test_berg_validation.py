"""Fast unit checks of the BERG layout, selections, stimulus checks, manifest and export targets."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bergforge.api.stimulus import SmallStimulusWarning, validate_stimulus
from bergforge.config import REPO_ROOT, load_config, validate_config
from bergforge.errors import (
    ConfigError,
    DataError,
    InvalidParameterError,
    ModelLoadError,
    ModelNotFoundError,
)
from bergforge.export import layout
from bergforge.export.berg import read_split_model, save_pickled_dict
from bergforge.export.manifest import ManifestGuard, read_manifest
from bergforge.export.selection import check_selection_keys, resolve_eeg, resolve_meg
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.workflow.export import dataset_for, export_targets


def test_model_ids_map_to_one_folder_triple(tmp_path):
    model = layout.parse_model_id("eeg-things_eeg_2-alexnet_untrained")
    assert (model.modality, model.dataset, model.backbone) == (
        "eeg",
        "things_eeg_2",
        "alexnet_untrained",
    )
    assert model.folder(tmp_path).relative_to(tmp_path).as_posix() == (
        "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-alexnet_untrained"
    )
    assert str(layout.parse_model_id("meg-things_meg_1-clip-vit")) == "meg-things_meg_1-clip-vit"
    for bad in ("eeg-things_eeg_2", "", None, "eeg--x"):
        with pytest.raises(ModelNotFoundError, match="not of the form"):
            layout.parse_model_id(bad)


def test_file_names_follow_berg():
    assert layout.weights_names("meg", 2) == [
        "weights_P2_all_training_splits.npy",
        "weights_P2_full.npy",
        *[f"weights_P2_single_training_split_{k}.npy" for k in range(1, 5)],
    ]
    assert layout.weights_names("eeg", 3) == ["weights_subject-03.npy"]
    assert layout.metadata_name("eeg", 10) == "metadata_subject-10.npy"
    assert layout.subject_of_metadata("meg", "metadata_P4.npy") == 4
    assert layout.subject_of_metadata("eeg", "metadata_subject-1.npy") == 1
    assert layout.subject_of_metadata("eeg", "metadata_P1.npy") is None


def test_dataset_names_default_by_format_and_can_be_overridden():
    assert layout.berg_dataset_name({"format": "things_meg1"}) == "things_meg_1"
    assert layout.berg_dataset_name({"format": "things_eeg2"}) == "things_eeg_2"
    assert layout.berg_dataset_name({"format": "things_eeg2", "name_in_berg": "demo"}) == "demo"
    with pytest.raises(ConfigError, match="name_in_berg"):
        layout.berg_dataset_name({"format": "nsd"})


def demo_config(**eeg_extra):
    config = load_config(REPO_ROOT / "config" / "config.yaml")
    config["datasets"]["demo_eeg"].update(eeg_extra)
    return validate_config(config)


def test_export_targets_cover_every_model_of_the_demo():
    targets = export_targets(demo_config())
    meg = "results/berg/encoding_models/modality-meg/train_dataset-things_meg_1/model-alexnet_untrained"
    eeg = "results/berg/encoding_models/modality-eeg/train_dataset-things_eeg_2/model-alexnet_untrained"
    assert f"{meg}/encoding_models_weights/weights_P1_single_training_split_4.npy" in targets
    assert f"{meg}/metadata/metadata_P1.npy" in targets
    assert f"{meg}/encoding_models_accuracy/encoding_accuracy_P1_all_training_splits.png" in targets
    for subject in (1,):
        assert f"{eeg}/encoding_models_weights/weights_subject-0{subject}.npy" in targets
        assert f"{eeg}/encoding_models_accuracy/encoding_accuracy_subject-0{subject}.png" in targets
    assert f"{meg}/model_card.md" in targets and f"{eeg}/model_card.yaml" in targets
    per_meg_subject, per_eeg_subject, cards = 6 + 1 + 5, 1 + 1 + 1, 2 + 2
    # and the cnn8 model of demo_nsd: weights, card, and per subject metadata + 2 plots
    fmri = 1 + 2 + 2 * (1 + 2)
    expected = 1 * per_meg_subject + 1 * per_eeg_subject + cards + fmri
    assert len(targets) == len(set(targets)) == expected


def test_name_in_berg_is_validated_and_routes_the_export():
    config = demo_config(name_in_berg="things_eeg_2_demo")
    assert dataset_for(config, "eeg", "things_eeg_2_demo") == "demo_eeg"
    assert any("train_dataset-things_eeg_2_demo/" in t for t in export_targets(config))
    with pytest.raises(ConfigError, match="0 config datasets"):
        dataset_for(config, "eeg", "things_eeg_2")
    with pytest.raises(ConfigError, match="name_in_berg"):
        demo_config(name_in_berg="Bad Name")


def test_meg_selections_are_unioned_and_sorted():
    prefixes = np.array(["MLO", "MZF", "MRO", "MLT", "MLO"])
    regions = np.array(["Occipital", "Frontal", "Occipital", "Temporal", "Occipital"])
    sel = resolve_meg(
        {"sensors": ["MZF"], "region": ["Temporal"], "sensor_index": [0, 0, 0, 0, 1]},
        prefixes,
        regions,
        3,
    )
    assert sel.channels.tolist() == [1, 3, 4]
    assert sel.times.tolist() == [0, 1, 2]
    assert sel.rows(3).tolist() == [3, 4, 5, 9, 10, 11, 12, 13, 14]
    with pytest.raises(InvalidParameterError, match="keeps no sensor"):
        resolve_meg({"sensors": ["MRF"]}, prefixes, regions, 3)


def test_eeg_selection_and_keys():
    sel = resolve_eeg(
        {"channels": ["Cz", "Oz"], "timepoints": np.array([0, 1, 1])}, ["Oz", "Pz", "Cz"], 3
    )
    assert sel.channels.tolist() == [2, 0] and sel.times.tolist() == [1, 2]
    assert check_selection_keys("eeg", None) == {}
    with pytest.raises(
        InvalidParameterError, match=r"valid keys are: \['channels', 'timepoints'\]"
    ):
        check_selection_keys("eeg", {"roi": "V1"})


def test_stimulus_checks_and_small_image_warning():
    ok = np.zeros((2, 3, 224, 224), dtype=np.uint8)
    assert validate_stimulus(ok) is ok
    with pytest.warns(SmallStimulusWarning, match="below the recommended 224x224"):
        validate_stimulus(np.zeros((1, 3, 96, 96), dtype=np.uint8))
    assert validate_stimulus(np.full((1, 3, 224, 224), 255, dtype=np.int32)).dtype == np.uint8


def test_manifest_lines_are_parsed_and_bad_lines_refused(tmp_path):
    digest = "a" * 64
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  ./x/y.npy\n{digest} *z.npy\n\n")
    assert read_manifest(tmp_path / "SHA256SUMS") == {"x/y.npy": digest, "z.npy": digest}
    (tmp_path / "SHA256SUMS").write_text("abc  x.npy\n")
    with pytest.raises(ModelLoadError, match="SHA256SUMS:1 is not a sha256sum line"):
        ManifestGuard(tmp_path)
    assert ManifestGuard(tmp_path / "nowhere").digests is None


def test_an_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "weights_subject-01.npy"
    with pytest.raises(TypeError):
        save_pickled_dict(target, {"lock": threading.Lock()})  # unpicklable mid-write
    assert list(tmp_path.iterdir()) == []
    save_pickled_dict(target, {"a": np.arange(3)})
    assert np.load(target, allow_pickle=True).item()["a"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_missing_or_incomplete_model_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="missing model file .*regression.npz"):
        read_split_model(tmp_path)
    np.savez(tmp_path / "regression.npz", coef_=np.zeros((2, 3)))
    with pytest.raises(DataError, match="no checksums.json, so its fit did not finish"):
        read_split_model(tmp_path)
    seal_model_folder(tmp_path)  # a folder as its fit would leave it, but lacking an array
    with pytest.raises(DataError, match=r"lacks \['intercept_'\]"):
        read_split_model(tmp_path)


def test_equal_pca_arrays_of_the_repetitions_are_pickled_once():
    import io

    from sklearn.utils import Bunch

    from bergforge.export.berg import share_equal_arrays

    rng = np.random.default_rng(0)
    comps = rng.standard_normal((5, 2000)).astype(np.float32)
    reps = [{"components_": comps.copy(), "mean_": rng.standard_normal(2000)} for _ in range(4)]
    reps[3]["components_"][0, 0] += 1  # a repetition with other components keeps its own
    share_equal_arrays(reps)
    assert reps[1]["components_"] is reps[0]["components_"] is reps[2]["components_"]
    assert reps[3]["components_"] is not reps[0]["components_"]
    assert all(r["mean_"] is not reps[0]["mean_"] for r in reps[1:])  # different values
    weights = {"pca_param": {f"rep-{k + 1}": Bunch(**r) for k, r in enumerate(reps)}}
    buffer = io.BytesIO()
    np.save(buffer, weights, allow_pickle=True)
    assert buffer.tell() < 2 * comps.nbytes + 4 * 2000 * 8 + 10_000  # 2 component arrays, not 4
    buffer.seek(0)
    loaded = np.load(buffer, allow_pickle=True).item()["pca_param"]
    for k, r in enumerate(reps):
        np.testing.assert_array_equal(loaded[f"rep-{k + 1}"]["components_"], r["components_"])
