"""bergforge's own model layout: written by ``export_own_model``, read back through ``BERG``.

A test kind outside the package (``toy_kind``: least squares on the first feature columns) is
fitted on a tiny prepared store and real features of a seeded random AlexNet; the exported folder
must hold exactly the specified files, load through the same API calls as BERG models, predict
what an independent NumPy computation from the fitted weights predicts, slice selections, and
refuse every tampered, missing, unlisted or newer-version file with one clear error.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from berg_reference import alexnet_features
from features_data import make_stimuli
from PIL import Image
from safetensors.numpy import load_file

from bergforge import BERG
from bergforge.api.stimulus import SmallStimulusWarning
from bergforge.errors import ConfigError, InvalidParameterError, ModelLoadError
from bergforge.export.layout import ModelId
from bergforge.export.own_layout import (
    LAYOUT_VERSION,
    MODEL_JSON,
    export_own_model,
    recorded_backbone,
)
from bergforge.features.job import extract_shard
from bergforge.features.manifest_job import write_manifest
from bergforge.features.store import FeatureStore
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.models.kind import FitRequest
from bergforge.models.registry import get_kind
from bergforge.store_checksums import seal_store

KINDS = {"model_kinds": {"toy": "toy_kind"}}
N_COLUMNS = 4
CHANNELS = ["Oz", "Cz", "Pz"]
TIMES = [-0.1, 0.0, 0.1, 0.2, 0.3]
N_VERTICES = 7
EEG_ID = ModelId("eeg", "tiny_eeg", "toy_alexnet_untrained")
FMRI_ID = ModelId("fmri", "tiny_fmri", "toy_alexnet_untrained")
WEIGHTS = "weights/sub-01_split-all.safetensors"


def write_store(path: Path, modality: str, features: np.ndarray, n_train: int, seed: int) -> None:
    """A prepared store (docs/interfaces.md): responses linear in the first feature columns."""
    rng = np.random.default_rng(seed)
    shape = (len(CHANNELS), len(TIMES)) if modality == "eeg" else (N_VERTICES,)
    n_targets = int(np.prod(shape))
    signal = features[:, :N_COLUMNS] @ rng.standard_normal((N_COLUMNS, n_targets)) + 1.5

    def responses(rows: np.ndarray, reps: int) -> np.ndarray:
        noise = 0.3 * rng.standard_normal((len(rows), reps, n_targets))
        return (signal[rows][:, None] + noise).reshape(len(rows), reps, *shape).astype(np.float32)

    train = responses(np.arange(n_train), 3)
    train[2, 1] = np.nan  # one missing repetition
    test = responses(np.arange(n_train, len(features)), 2)
    dims = ["image", "repetition", *(["channel", "time"] if modality == "eeg" else ["vertex"])]
    attrs = {"modality": modality, "dataset": "tiny", "subject": 1, "dims": dims}
    if modality == "eeg":
        attrs |= {"channels": CHANNELS, "times": TIMES, "ch_type": "csd", "sfreq": 10.0}
    else:
        attrs |= {"vertices": [3, 5, 8, 13, 21, 34, 55]}
    group = zarr.open_group(str(path), mode="w")
    group.attrs.update(attrs)
    group.create_array("train", data=train, chunks=(4, *train.shape[1:]))
    group.create_array("test", data=test, chunks=(4, *test.shape[1:]))
    seal_store(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Features, prepared stores, toy fits and both own-layout exports under one root."""
    root = tmp_path_factory.mktemp("own_layout")
    stimuli = make_stimuli(root, n_images=16, size=64)
    shard = root / "features" / "shard-1-of-1.zarr"
    extract_shard(
        stimuli,
        "alexnet_untrained",
        {"layers": ["classifier.6"]},
        {"device": "cpu", "batch_size": 8},
        1,
        1,
        shard,
        base_dir=root,
    )
    manifest = root / "features" / "features.json"
    write_manifest([shard], manifest)
    store = FeatureStore.open(manifest)
    features = store.read_rows(np.arange(store.shape[0])).astype(np.float64)
    n_train = 12  # make_stimuli: the first 12 rows are training images, in index order
    kind = get_kind("toy", KINDS)
    out = {"root": root, "features": features, "n_train": n_train, "berg": root / "berg"}
    for modality, model_id, seed in (("eeg", EEG_ID, 1), ("fmri", FMRI_ID, 2)):
        prepared = root / "prepared" / f"{modality}.zarr"
        write_store(prepared, modality, features, n_train, seed)
        model_dir = root / "models" / modality / "sub-01" / "split-all"
        model_dir.mkdir(parents=True)
        kind.fit(
            FitRequest(
                "tiny",
                modality,
                (1,),
                "all",
                (prepared,),
                stimuli,
                features=manifest,
                settings={"n_columns": N_COLUMNS},
            ),
            model_dir,
        )
        seal_model_folder(model_dir)  # as the fit job does after the kind's fit
        summary = root / "evaluation" / modality / "summary.json"
        summary.parent.mkdir(parents=True)
        summary.write_text(json.dumps({"all": 0.42, "undefined": float("nan")}))
        export_own_model(
            "toy",
            str(model_id),
            model_id.folder(out["berg"]),
            [1],
            {(1, "all"): model_dir},
            {1: prepared},
            recorded_backbone(manifest),
            {1: summary},
            KINDS,
        )
        out[modality] = {"prepared": prepared, "model_dir": model_dir, "summary": summary}
    files = [root / f for f in make_test_files(stimuli)]
    out["images"] = np.stack(
        [np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files]
    )
    return out


def make_test_files(stimuli: Path) -> list[str]:
    lines = [line.split("\t") for line in stimuli.read_text().splitlines()[1:]]
    return [row[4] for row in lines if row[1] == "test"]


def expected_response(built: dict, modality: str) -> np.ndarray:
    """Fitted weights (``weights.npz``) applied to features of the test images on BERG's inference
    path (the preset on the uint8 tensor, an independent seeded AlexNet)."""
    weights = np.load(built[modality]["model_dir"] / "weights.npz")
    x = alexnet_features(built["images"], "tensor", ["classifier.6"])[:, :N_COLUMNS]
    y = x @ weights["coef"] + weights["intercept"]
    return y.reshape(len(x), *((len(CHANNELS), len(TIMES)) if modality == "eeg" else (-1,)))


def quiet(call, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallStimulusWarning)
        return call(*args, **kw)


@pytest.fixture
def tampered(built, tmp_path):
    """A private copy of the exported tree and the path of its EEG model folder."""
    shutil.copytree(built["berg"], tmp_path / "berg")
    return tmp_path / "berg", EEG_ID.folder(tmp_path / "berg")


# --- the toy kind and the written folder -------------------------------------------------------


def test_toy_fit_is_least_squares_on_the_repetition_means(built):
    train = np.asarray(zarr.open_group(str(built["eeg"]["prepared"]), mode="r")["train"][:])
    y = np.nanmean(train.astype(np.float64), axis=1).reshape(len(train), -1)
    x = built["features"][: built["n_train"], :N_COLUMNS]
    solution = np.linalg.lstsq(np.hstack([x, np.ones((len(x), 1))]), y, rcond=None)[0]
    weights = np.load(built["eeg"]["model_dir"] / "weights.npz")
    np.testing.assert_allclose(weights["coef"], solution[:-1], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(weights["intercept"], solution[-1], rtol=1e-8, atol=1e-10)


def test_folder_holds_exactly_the_layout_files_listed_in_sha256sums(built):
    folder = EEG_ID.folder(built["berg"])
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == sorted(["SHA256SUMS", MODEL_JSON, "model_card.md", "model_card.yaml", WEIGHTS])
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "temporary left"
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    names = [line.split("  ", 1)[1] for line in lines]
    assert names == sorted(f for f in files if f != "SHA256SUMS")
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    tensors = load_file(folder / WEIGHTS)
    fitted = np.load(built["eeg"]["model_dir"] / "weights.npz")
    assert sorted(tensors) == ["coef", "intercept"]
    np.testing.assert_array_equal(tensors["coef"], fitted["coef"])
    np.testing.assert_array_equal(tensors["intercept"], fitted["intercept"])


def test_model_json_records_targets_backbone_config_and_provenance(built):
    meta = json.loads((EEG_ID.folder(built["berg"]) / MODEL_JSON).read_text())
    assert meta["layout"] == {"name": "bergforge-model", "version": LAYOUT_VERSION}
    assert (meta["model_id"], meta["kind"], meta["modality"]) == (str(EEG_ID), "toy", "eeg")
    assert (meta["subjects"], meta["splits"]) == ([1], ["all"])
    sub = meta["targets"]["sub-01"]
    assert sub["target_dims"] == ["channel", "time"] and sub["target_shape"] == [3, 5]
    assert sub["coordinates"] == {"channels": CHANNELS, "times": TIMES}
    assert sub["splits"]["all"]["weights"] == WEIGHTS
    assert sub["splits"]["all"]["config"] == {"n_columns": N_COLUMNS}
    assert sub["splits"]["all"]["source"] == built["eeg"]["model_dir"].as_posix()
    assert sub["evaluation"] == {"all": 0.42, "undefined": None}  # NaN stored as null
    assert meta["backbone"]["name"] == "alexnet_untrained"
    assert meta["backbone"]["layers"] == ["classifier.6"] and meta["backbone"]["weights"] == "none"
    assert meta["provenance"]["kind_module"] == "toy_kind"
    paths = {"train": "preset_pil", "inference": "preset_uint8_tensor"}
    assert meta["provenance"]["image_transform"] == paths
    card = yaml.safe_load((EEG_ID.folder(built["berg"]) / "model_card.yaml").read_text())
    assert card["backbone"]["image_transform"] == paths
    assert card["model_id"] == str(EEG_ID) and card["accuracy"]["sub-01"]["all"] == 0.42
    assert "model_kinds={'toy': 'toy_kind'}" in card["example"]
    markdown = (EEG_ID.folder(built["berg"]) / "model_card.md").read_text()
    assert markdown.startswith(f"# {EEG_ID}\n") and "## Example" in markdown


def test_reexport_replaces_the_whole_folder(built, tmp_path):
    folder = EEG_ID.folder(tmp_path / "berg")
    folder.mkdir(parents=True)
    (folder / "stale.npy").write_bytes(b"old")
    export_own_model(
        "toy",
        str(EEG_ID),
        folder,
        [1],
        {(1, "all"): built["eeg"]["model_dir"]},
        {1: built["eeg"]["prepared"]},
        None,
        None,
        KINDS,
    )
    assert not (folder / "stale.npy").exists()
    reference = EEG_ID.folder(built["berg"])
    assert (folder / WEIGHTS).read_bytes() == (reference / WEIGHTS).read_bytes()


def test_writer_refuses_berg_layout_kinds_and_missing_splits(built, tmp_path):
    args = ([1], {(1, "all"): built["eeg"]["model_dir"]}, {1: built["eeg"]["prepared"]})
    with pytest.raises(ConfigError, match="BERG's layout"):
        export_own_model("linear", str(EEG_ID), EEG_ID.folder(tmp_path), *args, None, None, None)
    with pytest.raises(ConfigError, match=r"expected one per \(subject, split\)"):
        export_own_model(
            "toy", str(EEG_ID), EEG_ID.folder(tmp_path), [1, 2], *args[1:], None, None, KINDS
        )
    with pytest.raises(ConfigError, match="does not belong to model"):
        export_own_model("toy", str(EEG_ID), tmp_path / "elsewhere", *args, None, None, KINDS)
    assert not (tmp_path / "encoding_models").exists()


# --- loading through BERG ----------------------------------------------------------------------


def test_berg_lists_own_models_with_their_subjects_and_metadata(built):
    berg = BERG(built["berg"], model_kinds=KINDS["model_kinds"])
    assert berg.list_models() == sorted([str(EEG_ID), str(FMRI_ID)])
    assert berg.subjects(str(EEG_ID)) == [1]
    meta = berg.get_model_metadata(str(EEG_ID), 1)
    assert meta == json.loads((EEG_ID.folder(built["berg"]) / MODEL_JSON).read_text())
    with pytest.raises(InvalidParameterError, match="subject must be one of"):
        berg.get_model_metadata(str(EEG_ID), 2)


@pytest.mark.parametrize("modality", ["eeg", "fmri"])
def test_generate_response_equals_the_fitted_weights_on_bergs_inference_path(built, modality):
    model_id = str(EEG_ID if modality == "eeg" else FMRI_ID)
    berg = BERG(built["berg"], model_kinds=KINDS["model_kinds"])
    model = berg.get_encoding_model(model_id, 1, device="cpu")
    got = quiet(model.generate_response, built["images"])
    expected = expected_response(built, modality)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert expected.std(axis=0).min() > 1e-3  # the images' features, not the intercept, vary
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    responses, metadata = quiet(berg.encode, model, built["images"], return_metadata=True)
    np.testing.assert_array_equal(responses, got)
    assert metadata["model_id"] == model_id


def test_eeg_selection_slices_channels_in_order_and_timepoints(built):
    berg = BERG(built["berg"], model_kinds=KINDS["model_kinds"])
    full = quiet(
        berg.get_encoding_model(str(EEG_ID), 1, device="cpu").generate_response, built["images"]
    )
    timepoints = [0, 1, 1, 0, 1]
    model = berg.get_encoding_model(
        str(EEG_ID), 1, selection={"channels": ["Pz", "Oz"], "timepoints": timepoints}, device="cpu"
    )
    got = quiet(model.generate_response, built["images"])
    np.testing.assert_array_equal(got, full[:, [2, 0]][:, :, [1, 2, 4]])
    with pytest.raises(InvalidParameterError, match="invalid selection key 'region'"):
        berg.get_encoding_model(str(EEG_ID), 1, selection={"region": ["Occipital"]})
    with pytest.raises(InvalidParameterError, match=r"invalid value\(s\) \['Fz'\]"):
        berg.get_encoding_model(str(EEG_ID), 1, selection={"channels": ["Fz"]})
    with pytest.raises(InvalidParameterError, match="train_splits must be None or one of"):
        berg.get_encoding_model(str(EEG_ID), 1, train_splits="single")


def test_fmri_own_model_refuses_a_selection(built):
    berg = BERG(built["berg"], model_kinds=KINDS["model_kinds"])
    with pytest.raises(InvalidParameterError, match="selection is not supported"):
        berg.get_encoding_model(str(FMRI_ID), 1, selection={"roi": ["V1"]})


def test_unregistered_kind_is_one_clear_error(built):
    berg = BERG(built["berg"])
    assert berg.subjects(str(EEG_ID)) == [1]  # the JSON needs no kind
    with pytest.raises(ModelLoadError, match=r"model kind 'toy'.*model_kinds="):
        berg.get_encoding_model(str(EEG_ID), 1)


# --- refusals ----------------------------------------------------------------------------------


def _refused(berg_dir: Path, name: str) -> None:
    with pytest.raises(ModelLoadError, match=re.escape(name)) as caught:
        BERG(berg_dir, model_kinds=KINDS["model_kinds"]).get_encoding_model(str(EEG_ID), 1)
    assert "refus" in str(caught.value) or "does not match" in str(caught.value)


def test_flipped_byte_in_the_weights_is_refused(tampered):
    berg_dir, folder = tampered
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-1] ^= 0x01
    (folder / WEIGHTS).write_bytes(bytes(data))
    _refused(berg_dir, WEIGHTS)


def test_weights_changed_after_opening_are_refused_on_read(tampered):
    berg_dir, folder = tampered
    berg = BERG(berg_dir, model_kinds=KINDS["model_kinds"])
    assert berg.subjects(str(EEG_ID)) == [1]  # verified and kept
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-1] ^= 0x01
    (folder / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=re.escape(f"{WEIGHTS} changed since it was verified")):
        berg.get_encoding_model(str(EEG_ID), 1)


def test_missing_file_is_refused(tampered):
    berg_dir, folder = tampered
    (folder / "model_card.md").unlink()
    _refused(berg_dir, "model_card.md is listed in SHA256SUMS but missing")


def test_unlisted_file_is_refused(tampered):
    berg_dir, folder = tampered
    (folder / "weights" / "extra.safetensors").write_bytes(b"{}")
    _refused(berg_dir, "weights/extra.safetensors is not listed in SHA256SUMS")


def test_newer_layout_version_is_refused_clearly(tampered):
    berg_dir, folder = tampered
    meta = json.loads((folder / MODEL_JSON).read_text())
    meta["layout"]["version"] = LAYOUT_VERSION + 1
    data = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
    (folder / MODEL_JSON).write_bytes(data)
    lines = [
        f"{hashlib.sha256(data).hexdigest()}  {MODEL_JSON}" if line.endswith(MODEL_JSON) else line
        for line in (folder / "SHA256SUMS").read_text().splitlines()
    ]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        ModelLoadError,
        match=f"layout version {LAYOUT_VERSION + 1}; .* reads version {LAYOUT_VERSION} only",
    ):
        BERG(berg_dir).subjects(str(EEG_ID))


def test_a_release_manifest_must_cover_the_models_own(tampered):
    berg_dir, folder = tampered
    rel = (folder / "SHA256SUMS").relative_to(berg_dir).as_posix()
    digest = hashlib.sha256((folder / "SHA256SUMS").read_bytes()).hexdigest()
    (berg_dir / "SHA256SUMS").write_text(f"{digest}  {rel}\n")
    assert BERG(berg_dir).subjects(str(EEG_ID)) == [1]
    (berg_dir / "SHA256SUMS").write_text(f"{'0' * 64}  {rel}\n")
    with pytest.raises(ModelLoadError, match=re.escape(f"refusing to load {rel}")):
        BERG(berg_dir).subjects(str(EEG_ID))
