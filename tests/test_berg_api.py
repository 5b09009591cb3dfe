"""The BERG tree bergforge exports, read back through ``bergforge.BERG``.

Trees are built from upstream artifacts in the contract format (scikit-learn fits on real
random-init AlexNet features of simulated images); the loader must reproduce the pipeline's own
test predictions, slice selections exactly, round-trip metadata and refuse every bad argument.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import yaml
from berg_artifacts import build_exported_tree
from berg_reference import alexnet_features, eeg_reference, meg_reference, relative_max
from PIL import Image
from sklearn.utils import Bunch

from bergforge import BERG
from bergforge.api.stimulus import SmallStimulusWarning
from bergforge.api.verify import relative_errors
from bergforge.errors import (
    BergforgeError,
    InvalidParameterError,
    ModelLoadError,
    ModelNotFoundError,
    StimulusError,
)
from bergforge.export import layout
from bergforge.export.manifest import MANIFEST_NAME, sha256_of
from bergforge.export.plots import DPI, EEG_FIGSIZE, MEG_FIGSIZE


@pytest.fixture(scope="module")
def eeg_tree(tmp_path_factory):
    return build_exported_tree(tmp_path_factory.mktemp("berg_eeg"), "eeg")


@pytest.fixture(scope="module")
def meg_tree(tmp_path_factory):
    return build_exported_tree(tmp_path_factory.mktemp("berg_meg"), "meg")


@pytest.fixture(scope="module")
def eeg_model(eeg_tree):
    berg = BERG(eeg_tree["berg_dir"])
    return berg, berg.get_encoding_model(eeg_tree["model_id"], 1)


def quiet_encode(berg, model, images, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallStimulusWarning)
        return berg.encode(model, images, **kw)


# --- the exported tree, plots and cards ------------------------------------------------------


@pytest.mark.parametrize("modality", ["meg", "eeg"])
def test_tree_has_every_file_with_berg_names_and_keys(modality, request):
    tree = request.getfixturevalue(f"{modality}_tree")
    folder = tree["model_dir"]
    weights = sorted(p.name for p in (folder / layout.WEIGHTS_DIR).iterdir())
    assert weights == sorted(layout.weights_names(modality, 1))
    assert [p.name for p in (folder / layout.METADATA_DIR).iterdir()] == [
        "metadata_P1.npy" if modality == "meg" else "metadata_subject-01.npy"
    ]
    assert not list(folder.rglob(".*.tmp")), "a temporary file was left behind"
    first = np.load(folder / layout.WEIGHTS_DIR / weights[0], allow_pickle=True).item()
    assert set(first) == {"scaler_param", "pca_param", "reg_param"}
    assert set(first["scaler_param"]) == {
        "scale_",
        "mean_",
        "var_",
        "n_features_in_",
        "n_samples_seen_",
    }
    if modality == "eeg":
        assert sorted(first["pca_param"]) == ["rep-1", "rep-2", "rep-3", "rep-4"]
        assert sorted(first["reg_param"]) == ["rep-1", "rep-2", "rep-3", "rep-4"]
        pca = first["pca_param"]["rep-2"]
        assert isinstance(pca, Bunch) and pca.components_.shape == (3, 205672)
        assert first["reg_param"]["rep-1"]["coef_"].shape == (63 * 140, 3)
        assert first["reg_param"]["rep-1"]["n_features_in_"] == 3
    else:
        assert first["reg_param"]["coef_"].shape == (271 * 281, 3)
        assert isinstance(first["scaler_param"]["n_features_in_"], int)
        full = folder / layout.WEIGHTS_DIR / "weights_P1_full.npy"
        all_splits = folder / layout.WEIGHTS_DIR / "weights_P1_all_training_splits.npy"
        assert full.read_bytes() == all_splits.read_bytes()


@pytest.mark.parametrize("modality", ["meg", "eeg"])
def test_plots_are_nonempty_images_of_the_expected_size(modality, request):
    tree = request.getfixturevalue(f"{modality}_tree")
    figsize = MEG_FIGSIZE if modality == "meg" else EEG_FIGSIZE
    assert len(tree["plots"]) == (5 if modality == "meg" else 1)
    for path in tree["plots"]:
        with Image.open(path) as img:
            assert img.format == "PNG"
            assert img.size == (int(figsize[0] * DPI), int(figsize[1] * DPI))
            pixels = np.asarray(img.convert("L"), dtype=float)
        dark = (pixels < 128).mean()
        assert 0.005 < dark < 0.5, f"{path.name}: {dark:.3%} dark pixels"
        assert pixels.std() > 10


@pytest.mark.parametrize("modality", ["meg", "eeg"])
def test_card_is_filled_from_the_run(modality, request):
    tree = request.getfixturevalue(f"{modality}_tree")
    yaml_path, md_path = tree["card"]
    card = yaml.safe_load(yaml_path.read_text())
    required = {"model_id", "modality", "training_dataset", "species", "stimuli", "model_type"}
    required |= {"creator", "description", "input", "output", "parameters", "references"}
    assert required <= set(card)
    assert card["model_id"] == tree["model_id"]
    assert card["data"]["subjects"] == [1]
    assert card["data"]["n_test_images"] == 6
    assert card["backbone"]["layers"][0] == "features.2"
    assert card["parameters"]["subject"]["valid_values"] == [1]
    tag = "P1" if modality == "meg" else "subject-01"
    median = card["accuracy"][tag]
    assert all(np.isfinite(v["median_r"]) for v in median.values() if isinstance(v, dict))
    if modality == "meg":
        assert card["metadata"]["sensors"]["sensor_regions"].startswith("(271,)")
        assert card["parameters"]["train_splits"]["valid_values"] == ["all", "single"]
    else:
        assert card["metadata"]["eeg"]["ch_names"] == "list of 63"
    text = md_path.read_text()
    assert text.startswith(f"# {tree['model_id']}") and "```python" in text


# --- the API reproduces the pipeline's predictions --------------------------------------------


def test_eeg_api_equals_an_independent_reference_on_bergs_inference_path(eeg_tree):
    """encode = scikit-learn readout of the exported dicts on features of the preset applied to the
    uint8 tensor; the same readout on features of the preset on PIL (the features stage's path)
    gives the pipeline's own test predictions."""
    berg = BERG(eeg_tree["berg_dir"])
    assert berg.list_models() == [eeg_tree["model_id"]]
    model = berg.get_encoding_model(eeg_tree["model_id"], subject=1, device="cpu")
    images = eeg_tree["test_images"]
    with pytest.warns(SmallStimulusWarning, match="64x64"):
        out = berg.encode(model, images)
    assert out.shape == (6, 4, 63, 140) and out.dtype == np.float32
    reference = eeg_reference(eeg_tree["model_dir"], 1, alexnet_features(images, "tensor"))
    assert relative_max(out, reference) <= 1e-5
    trained = eeg_reference(eeg_tree["model_dir"], 1, alexnet_features(images, "pil"))
    expected = eeg_tree["predictions"][1:].transpose(1, 0, 2, 3)  # [image, rep, ch, t]
    np.testing.assert_allclose(trained, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert not np.allclose(out[:, 0], out[:, 1]), "repetitions must differ"


# --- selections, determinism, metadata --------------------------------------------------------


def test_meg_selection_is_the_same_slice_of_the_full_output(meg_tree):
    berg = BERG(meg_tree["berg_dir"])
    meta = berg.get_model_metadata(meg_tree["model_id"], 1)
    images = meg_tree["test_images"][:2]
    full = quiet_encode(
        berg, berg.get_encoding_model(meg_tree["model_id"], 1, train_splits="single"), images
    )
    index = np.zeros(271, dtype=int)
    index[[0, 5, 270]] = 1
    times = np.zeros(281, dtype=int)
    times[20:60] = 1
    selection = {
        "region": ["Occipital"],
        "sensors": ["MZF"],
        "sensor_index": index,
        "timepoints": times,
    }
    model = berg.get_encoding_model(
        meg_tree["model_id"], 1, train_splits="single", selection=selection
    )
    part = quiet_encode(berg, model, images)
    sensors = meta["sensors"]
    keep = (sensors["sensor_regions"] == "Occipital") | (sensors["sensor_prefixes"] == "MZF")
    keep[[0, 5, 270]] = True
    expected = full[:, :, keep][..., 20:60]
    assert part.shape == (2, 4, int(keep.sum()), 40)
    np.testing.assert_allclose(part, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_eeg_selection_keeps_the_channel_order_given(eeg_tree):
    berg = BERG(eeg_tree["berg_dir"])
    images = eeg_tree["test_images"][:2]
    full = quiet_encode(berg, berg.get_encoding_model(eeg_tree["model_id"], 1), images)
    times = np.zeros(140, dtype=bool)
    times[[0, 50, 139]] = True
    model = berg.get_encoding_model(
        eeg_tree["model_id"], 1, selection={"channels": ["Oz", "Fp1", "Cz"], "timepoints": times}
    )
    part = quiet_encode(berg, model, images)
    names = berg.get_model_metadata(eeg_tree["model_id"], 1)["eeg"]["ch_names"]
    rows = [names.index(c) for c in ("Oz", "Fp1", "Cz")]
    np.testing.assert_allclose(part, full[:, :, rows][..., times], rtol=1e-5, atol=1e-6)


def test_the_same_call_twice_gives_the_same_array(eeg_tree):
    berg = BERG(eeg_tree["berg_dir"])
    model = berg.get_encoding_model(eeg_tree["model_id"], 1)
    first = quiet_encode(berg, model, eeg_tree["test_images"][:3])
    again = quiet_encode(
        berg, berg.get_encoding_model(eeg_tree["model_id"], 1), eeg_tree["test_images"][:3]
    )
    np.testing.assert_array_equal(first, again)


def test_metadata_round_trips(meg_tree, eeg_tree):
    for tree, key in ((meg_tree, "metadata_P1.npy"), (eeg_tree, "metadata_subject-01.npy")):
        berg = BERG(tree["berg_dir"])
        meta = berg.get_model_metadata(tree["model_id"], 1)
        on_disk = np.load(tree["model_dir"] / layout.METADATA_DIR / key, allow_pickle=True).item()
        assert meta.keys() == on_disk.keys()
        model = berg.get_encoding_model(tree["model_id"], 1)
        _, returned = quiet_encode(berg, model, tree["test_images"][:1], return_metadata=True)
        assert returned is model.metadata and returned.keys() == meta.keys()
    meg = BERG(meg_tree["berg_dir"]).get_model_metadata(meg_tree["model_id"], 1)
    assert isinstance(meg["sensors"]["sensor_regions"], np.ndarray)
    assert meg["sensors"]["sensor_regions"].dtype.kind == "U" and meg["sensors"]["n_sensors"] == 271
    enc = meg["encoding_model"]
    assert enc["single_training_split_3"]["train_img_ids"].shape == (4,)
    assert enc["all_training_splits"]["correlation_results"].shape == (271, 281)
    assert enc["test_img_ids"].shape == (6 * 4,) and enc["noise_ceiling"].shape == (271, 281)
    eeg = BERG(eeg_tree["berg_dir"]).get_model_metadata(eeg_tree["model_id"], 1)
    assert isinstance(eeg["eeg"]["ch_names"], list) and len(eeg["eeg"]["ch_names"]) == 63
    assert eeg["encoding_models"]["correlation_single_repetitions"].shape == (4, 63, 140)
    assert eeg["encoding_models"]["train_img_info"]["train_img_files"].shape == (12,)


# --- every bad argument gets its message ------------------------------------------------------

BAD_LOADS = [
    ({"model_id": "eeg-things_eeg_2-vit_b_32"}, ModelNotFoundError, "available models"),
    ({"model_id": "nonsense"}, ModelNotFoundError, "modality"),
    ({"subject": 3}, InvalidParameterError, r"one of \[1\]"),
    ({"subject": "1"}, InvalidParameterError, "must be an int"),
    ({"subject": True}, InvalidParameterError, "must be an int"),
    ({"train_splits": "single"}, InvalidParameterError, "MEG models only"),
    ({"device": "tpu"}, InvalidParameterError, "device must be one of"),
    ({"selection": ["Oz"]}, InvalidParameterError, "must be a dict"),
    (
        {"selection": {"region": ["Occipital"]}},
        InvalidParameterError,
        "invalid selection key 'region'",
    ),
    (
        {"selection": {"channels": ["Oz", "XX"]}},
        InvalidParameterError,
        r"invalid value\(s\) \['XX'\]",
    ),
    ({"selection": {"channels": "Oz"}}, InvalidParameterError, "must be a list of strings"),
    ({"selection": {"channels": []}}, InvalidParameterError, "is empty"),
    ({"selection": {"channels": ["Oz", "Oz"]}}, InvalidParameterError, "twice"),
    ({"selection": {"timepoints": np.ones(139)}}, InvalidParameterError, "exactly 140 elements"),
    ({"selection": {"timepoints": np.full(140, 2)}}, InvalidParameterError, "binary"),
    ({"selection": {"timepoints": np.zeros(140)}}, InvalidParameterError, "selects nothing"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_LOADS, ids=lambda v: str(v)[:40])
def test_bad_eeg_arguments_are_refused(eeg_tree, kwargs, error, message):
    args = {"model_id": eeg_tree["model_id"], "subject": 1, **kwargs}
    with pytest.raises(error, match=message) as info:
        BERG(eeg_tree["berg_dir"]).get_encoding_model(**args)
    assert isinstance(info.value, BergforgeError)


BAD_MEG = [
    ({"train_splits": "full"}, r"train_splits must be one of \['all', 'single'\]"),
    ({"selection": {"channels": ["Oz"]}}, "invalid selection key 'channels'"),
    ({"selection": {"region": ["Visual"]}}, r"invalid value\(s\) \['Visual'\].*Occipital"),
    ({"selection": {"region": "Occipital"}}, "must be a list of strings"),
    ({"selection": {"sensors": ["MLX"]}}, r"\['MLX'\].*MZP"),
    ({"selection": {"sensor_index": [1, 0]}}, "exactly 271 elements"),
    ({"selection": {"sensor_index": "all"}}, "binary list or array"),
    ({"selection": {"timepoints": np.ones(140)}}, "exactly 281 elements"),
    ({"subject": 5}, r"one of \[1\]"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_MEG, ids=lambda v: str(v)[:40])
def test_bad_meg_arguments_are_refused(meg_tree, kwargs, message):
    args = {"model_id": meg_tree["model_id"], "subject": 1, **kwargs}
    with pytest.raises(InvalidParameterError, match=message):
        BERG(meg_tree["berg_dir"]).get_encoding_model(**args)


def test_bad_metadata_requests_and_roots_are_refused(eeg_tree, tmp_path):
    berg = BERG(eeg_tree["berg_dir"])
    with pytest.raises(InvalidParameterError, match=r"one of \[1\]"):
        berg.get_model_metadata(eeg_tree["model_id"], 2)
    with pytest.raises(ModelNotFoundError, match="available models"):
        berg.get_model_metadata("meg-things_meg_1-alexnet_untrained", 1)
    with pytest.raises(ModelNotFoundError, match="no 'encoding_models' folder"):
        BERG(tmp_path)
    with pytest.raises(InvalidParameterError, match="get_encoding_model"):
        berg.encode("a model", eeg_tree["test_images"])


BAD_STIMULI = [
    (lambda x: x.astype(np.float32), "dtype float32"),
    (lambda x: x.astype(np.int64) + 300, "must lie in 0-255; got values from 3"),
    (lambda x: np.where(x > 128, x.astype(np.int16), -5), "from -5 to"),
    (lambda x: x[0], "3-D array"),
    (lambda x: x[:, :, :, :40], "square; got height 64 x width 40"),
    (lambda x: x[:, :1], "3 colour channels"),
    (lambda x: x[:0], "empty batch"),
    (lambda x: x.tolist(), "got list"),
    (lambda x: x > 100, "dtype bool"),
]


@pytest.mark.parametrize(("make", "message"), BAD_STIMULI, ids=[m for _, m in BAD_STIMULI])
def test_bad_stimuli_are_refused(eeg_tree, eeg_model, make, message):
    berg, model = eeg_model
    with pytest.raises(StimulusError, match=message):
        berg.encode(model, make(eeg_tree["test_images"][:2]))


def test_integer_stimuli_in_range_are_accepted_like_uint8(eeg_tree, eeg_model):
    berg, model = eeg_model
    images = eeg_tree["test_images"][:1]
    np.testing.assert_array_equal(
        quiet_encode(berg, model, images.astype(np.int64)), quiet_encode(berg, model, images)
    )


# --- the SHA-256 manifest ---------------------------------------------------------------------


def test_manifest_is_verified_before_unpickling(eeg_tree, tmp_path):
    root = tmp_path / "release"
    shutil.copytree(eeg_tree["berg_dir"], root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    (root / MANIFEST_NAME).write_text(
        "".join(f"{sha256_of(p)}  ./{p.relative_to(root).as_posix()}\n" for p in files)
    )
    berg = BERG(root)
    assert berg.get_encoding_model(eeg_tree["model_id"], 1).readouts  # intact: loads
    weights = root / eeg_tree["model_dir"].relative_to(eeg_tree["berg_dir"]) / layout.WEIGHTS_DIR
    target = weights / "weights_subject-01.npy"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="does not match the manifest"):
        berg.get_encoding_model(eeg_tree["model_id"], 1)
    lines = (root / MANIFEST_NAME).read_text().splitlines()
    (root / MANIFEST_NAME).write_text("\n".join(ln for ln in lines if "metadata_subject" not in ln))
    with pytest.raises(ModelLoadError, match="not listed"):
        BERG(root).get_model_metadata(eeg_tree["model_id"], 1)


def test_meg_api_differs_from_the_pipeline_only_by_the_image_path(meg_tree):
    """``relative_errors`` (API vs the evaluation's test predictions, from files as the pipeline
    wrote them) is the difference between BERG's two image paths: the same number as for an
    independent tensor-path reference."""
    root = meg_tree["berg_dir"].parent.parent
    errors = relative_errors(
        meg_tree["berg_dir"],
        meg_tree["model_id"],
        1,
        root / "results/evaluation/tiny/alexnet_untrained/sub-01/evaluation.npz",
        root / "results/prepared/tiny/stimuli.tsv",
        root,
    )
    assert set(errors) == {"all", "single"}
    feats = alexnet_features(meg_tree["test_images"], "tensor")
    pipeline = meg_tree["predictions"]  # [split, image, sensor, time]
    expected = {"all": pipeline[0], "single": pipeline[1:].transpose(1, 0, 2, 3)}
    for name, error in errors.items():
        reference = meg_reference(meg_tree["model_dir"], 1, feats, name)
        assert error == pytest.approx(relative_max(reference, expected[name]), rel=1e-3)
        assert error > 0, "the two image paths differ"


def test_the_loader_rebuilds_the_backbone_the_features_stage_recorded(tmp_path, monkeypatch):
    """Config overrides (here fewer layers; ViT with seeded weights) reach the loaded model."""
    from bergforge.api.backbone import FeatureExtractor, build_feature_extractor
    from bergforge.features.models import build_backbone
    from bergforge.features.registry import get_spec

    images = np.random.default_rng(0).integers(0, 256, (2, 3, 64, 64), dtype=np.uint8)
    recorded = get_spec("alexnet_untrained", {"layers": ["features.2"]}).as_dict()
    extractor = build_feature_extractor("alexnet_untrained", "cpu", recorded)
    assert extractor(images).shape == (2, 64 * 27 * 27)
    assert build_feature_extractor("alexnet_untrained", "cpu")(images).shape == (2, 205_672)

    vit = get_spec("vit_b_32", {"weights": "none", "seed": 3})
    ours = build_feature_extractor("vit_b_32", "cpu", vit.as_dict())(images)
    independent = build_backbone(vit, "cpu")
    expected = FeatureExtractor(independent, "cpu")(images)
    np.testing.assert_array_equal(ours, expected)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: no pretrained weights
    with pytest.raises(ModelLoadError, match="vit_b_32"):
        build_feature_extractor("vit_b_32", "cpu")  # pretrained weights: not available offline
