"""The loader reads BERG's published files of these models (names and keys written here by hand).

Formats follow research/berg_loader_expectations.md: pickled ``.npy`` dicts; EEG PCA entries as
plain dicts, ``Bunch`` or fitted sklearn ``PCA`` objects (all three were published); MEG under the
older ``weights_P1_full.npy`` name with only the metadata keys BERG's loader reads. The reference
is scikit-learn's own fitted objects applied to the same backbone features.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch

from bergforge import BERG
from bergforge.api.backbone import build_feature_extractor
from bergforge.datasets.sensors import (
    BAD_MEG_SENSOR,
    EEG_CHANNELS,
    meg_sensor_names,
    sensor_metadata,
)
from bergforge.errors import ModelLoadError
from bergforge.export.berg import PCA_KEYS
from bergforge.export.selection import MEG_REGIONS

N_FEATURES = 205_672  # alexnet_untrained, all 8 nodes, 224 px


@pytest.fixture(scope="module")
def images_and_features():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (2, 3, 224, 224), dtype=np.uint8)
    return images, build_feature_extractor("alexnet_untrained", "cpu")(images)


@pytest.fixture(scope="module")
def eeg_fits():
    return [fit_sklearn(63 * 140, seed) for seed in range(4)]


def fit_sklearn(n_targets: int, seed: int):
    """Fitted scaler, PCA and regression on random data of BERG's feature width."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, N_FEATURES)).astype(np.float32)
    scaler = StandardScaler().fit(x)
    pca = PCA(n_components=3, random_state=seed).fit(scaler.transform(x))
    reg = LinearRegression().fit(
        pca.transform(scaler.transform(x)), rng.standard_normal((8, n_targets))
    )
    return scaler, pca, reg


def params(scaler, pca, reg, pca_style: str):
    scaler_param = {
        k: getattr(scaler, k)
        for k in ("scale_", "mean_", "var_", "n_features_in_", "n_samples_seen_")
    }
    pca_dict = {k: getattr(pca, k) for k in PCA_KEYS}
    pca_param = {"dict": pca_dict, "bunch": Bunch(**pca_dict), "object": pca}[pca_style]
    reg_param = {"coef_": reg.coef_, "intercept_": reg.intercept_, "n_features_in_": 3}
    return scaler_param, pca_param, reg_param


def predict(scaler, pca, reg, feats):
    return reg.predict(pca.transform(scaler.transform(feats)))


@pytest.mark.parametrize("pca_style", ["dict", "bunch", "object"])
def test_published_eeg_model_loads_and_matches_sklearn(
    tmp_path, images_and_features, eeg_fits, pca_style
):
    images, feats = images_and_features
    folder = (
        tmp_path / "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-alexnet_untrained"
    )
    (folder / "metadata").mkdir(parents=True)
    (folder / "encoding_models_weights").mkdir()
    np.save(
        folder / "metadata/metadata_subject-01.npy",
        {"eeg": {"ch_names": list(EEG_CHANNELS), "times": np.linspace(-0.1, 0.595, 140)}},
    )
    fits = eeg_fits
    scaler = fits[0][0]
    weights = {"scaler_param": None, "pca_param": {}, "reg_param": {}}
    for k, (_, pca, reg) in enumerate(fits, start=1):
        s, p, r = params(scaler, pca, reg, pca_style)
        weights["scaler_param"] = s
        weights["pca_param"][f"rep-{k}"] = p
        weights["reg_param"][f"rep-{k}"] = r
    np.save(folder / "encoding_models_weights/weights_subject-01.npy", weights)

    berg = BERG(tmp_path)
    assert berg.list_models() == ["eeg-things_eeg_2-alexnet_untrained"]
    model = berg.get_encoding_model(
        "eeg-things_eeg_2-alexnet_untrained", subject=1, selection={"channels": ["O2", "Fp1"]}
    )
    out = berg.encode(model, images)
    expected = np.stack([predict(scaler, pca, reg, feats) for _, pca, reg in fits], axis=1)
    expected = expected.reshape(2, 4, 63, 140)[:, :, [EEG_CHANNELS.index("O2"), 0]]
    assert out.shape == (2, 4, 2, 140)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_published_meg_model_under_the_older_name_loads(tmp_path, images_and_features):
    images, feats = images_and_features
    folder = (
        tmp_path / "encoding_models/modality-meg/train_dataset-things_meg_1/model-alexnet_untrained"
    )
    (folder / "metadata").mkdir(parents=True)
    (folder / "encoding_models_weights").mkdir()
    names = [n for n in meg_sensor_names() if n != BAD_MEG_SENSOR]
    sensors = sensor_metadata(names)
    metadata = {
        "meg": {"times": np.round(np.arange(-20, 261) / 200, 3), "subject_id": "P1"},
        "sensors": {
            "sensor_prefixes": sensors["sensor_prefixes"],
            "sensor_regions": sensors["sensor_regions"],
        },
    }
    np.save(folder / "metadata/metadata_P1.npy", metadata)
    scaler, pca, reg = fit_sklearn(271 * 281, 11)
    s, p, r = params(scaler, pca, reg, "dict")
    np.save(
        folder / "encoding_models_weights/weights_P1_full.npy",
        {"scaler_param": s, "pca_param": p, "reg_param": r},
    )

    berg = BERG(tmp_path)
    model_id = "meg-things_meg_1-alexnet_untrained"
    out = berg.encode(
        berg.get_encoding_model(model_id, 1, selection={"region": ["Occipital"]}), images
    )
    keep = sensors["sensor_regions"] == "Occipital"
    expected = predict(scaler, pca, reg, feats).reshape(2, 271, 281)[:, keep]
    assert out.shape == (2, int(keep.sum()), 281) and "Occipital" in MEG_REGIONS
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    with pytest.raises(ModelLoadError, match="weights_P1_single_training_split_1.npy"):
        berg.get_encoding_model(model_id, 1, train_splits="single")


def test_weights_with_missing_keys_are_a_load_error(tmp_path):
    folder = (
        tmp_path / "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-alexnet_untrained"
    )
    (folder / "metadata").mkdir(parents=True)
    (folder / "encoding_models_weights").mkdir()
    np.save(
        folder / "metadata/metadata_subject-01.npy",
        {"eeg": {"ch_names": list(EEG_CHANNELS), "times": np.zeros(140)}},
    )
    np.save(
        folder / "encoding_models_weights/weights_subject-01.npy",
        {"scaler_param": {}, "pca_param": {}},
    )
    with pytest.raises(ModelLoadError, match="lacks \\['reg_param'\\]"):
        BERG(tmp_path).get_encoding_model("eeg-things_eeg_2-alexnet_untrained", 1)
    np.save(folder / "metadata/metadata_subject-01.npy", {"eeg": {"times": np.zeros(140)}})
    with pytest.raises(ModelLoadError, match="ch_names"):
        BERG(tmp_path).get_encoding_model("eeg-things_eeg_2-alexnet_untrained", 1)
