"""Every EEG/MEG model a run exports, checked against what BERG's own loaders read.

The facts come from ``research/berg_loader_expectations.md``, written here without bergforge's
checker: the EEG files against the ``alexnet_untrained`` loader's keys and reshapes (``rep-1`` …
``rep-N`` and nothing else, ``coef_`` reshaped to ``(channels, times, n_components)``), the MEG
files against BERG's MEG file names and shapes; every PCA with orthonormal components (to 1e-6)
and positive, non-increasing explained variance; the scaler of the backbone's feature count.
``bergforge.BERG.encode`` must equal an independent scikit-learn/torchvision reference of the
exported dicts on BERG's inference path (``tests/berg_reference.py``).

By default the run is the session's tiny chain (``tiny_built``, 4 components). ``make demo`` runs
this module on the demo's own exports (250 components) with ``--exports-of .``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

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

from bergforge import BERG
from bergforge.api.stimulus import SmallStimulusWarning

pytestmark = pytest.mark.workflow

#: what BERG names each format's training dataset (``train_dataset-…``) unless config renames it
BERG_DATASETS = {"things_eeg2": ("eeg", "things_eeg_2"), "things_meg1": ("meg", "things_meg_1")}
PCA_KEYS = {
    "components_",
    "explained_variance_",
    "explained_variance_ratio_",
    "singular_values_",
    "mean_",
    "n_components_",
    "n_samples_",
    "noise_variance_",
    "n_features_in_",
}
SCALER_KEYS = {"scale_", "mean_", "var_", "n_features_in_", "n_samples_seen_"}
MEG_WEIGHTS = ["all_training_splits", "full"] + [f"single_training_split_{k}" for k in range(1, 5)]
MEG_PREFIXES = {"MLC", "MLF", "MLO", "MLP", "MLT", "MRC", "MRF", "MRO", "MRP", "MRT"}
MEG_PREFIXES |= {"MZC", "MZF", "MZO", "MZP"}


@dataclass(frozen=True)
class Exported:
    """One model folder the run's config asks the export stage for."""

    dataset: str  # the config's dataset key
    modality: str
    berg_dataset: str
    backbone: str
    subject: int
    n_components: int
    folder: Path

    @property
    def model_id(self) -> str:
        return f"{self.modality}-{self.berg_dataset}-{self.backbone}"


def _load(path: Path) -> dict:
    assert path.is_file(), f"{path} is missing"
    value = np.load(path, allow_pickle=True)
    assert value.dtype == object and value.shape == (), f"{path}: not a pickled dict"
    return value.item()


def _planned(workdir: Path) -> list[Exported]:
    """The EEG/MEG linear models the workdir's config exports, read from the config alone."""
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    linear = config.get("models", {}).get("linear", {})
    out = []
    for name, ds in config["datasets"].items():
        if ds["format"] not in BERG_DATASETS:
            continue
        kinds = ds.get("models") or {"linear": {}}
        if "linear" not in kinds:
            continue
        settings = {**linear, **(kinds["linear"] or {})}
        backbones = settings.get("backbones") or list(config["backbones"])
        modality, berg_dataset = BERG_DATASETS[ds["format"]]
        berg_dataset = ds.get("name_in_berg", berg_dataset)
        for backbone in backbones:
            folder = (
                workdir / "results/berg/encoding_models" / f"modality-{modality}"
                f"/train_dataset-{berg_dataset}/model-{backbone}"
            )
            for subject in ds["subjects"]:
                n_components = int(settings.get("n_components", 250))
                out.append(
                    Exported(name, modality, berg_dataset, backbone, subject, n_components, folder)
                )
    return out


@pytest.fixture(scope="module")
def run(request) -> Path:
    """The workdir whose exports are checked: ``--exports-of`` or the session's tiny chain."""
    given = request.config.getoption("--exports-of")
    return Path(given).resolve() if given else request.getfixturevalue("tiny_built")


@pytest.fixture(scope="module")
def exported(run) -> list[Exported]:
    models = _planned(run)
    assert {m.modality for m in models} == {"eeg", "meg"}, "the run exports EEG and MEG models"
    return models


@pytest.fixture(scope="module")
def feature_count(exported) -> int:
    """The backbone's feature count, from the independent extractor (205,672 for alexnet)."""
    assert {m.backbone for m in exported} == {"alexnet_untrained"}, "reference knows alexnet only"
    return alexnet_features(np.zeros((1, 3, 224, 224), dtype=np.uint8), "tensor").shape[1]


def _check_scaler(path: Path, scaler: dict, n_features: int) -> None:
    assert set(scaler) >= SCALER_KEYS, f"{path}: scaler_param lacks {SCALER_KEYS - set(scaler)}"
    for key in ("scale_", "mean_", "var_"):
        assert np.shape(scaler[key]) == (n_features,), f"{path}: scaler_param[{key!r}]"
    assert int(scaler["n_features_in_"]) == n_features, f"{path}: scaler n_features_in_"
    assert np.all(np.asarray(scaler["scale_"]) > 0), f"{path}: a zero scale"


def _check_pca(where: str, pca: dict, k: int, n_features: int) -> None:
    assert set(pca) >= PCA_KEYS, f"{where}: PCA lacks {PCA_KEYS - set(pca)}"
    comps = np.asarray(pca["components_"], dtype=np.float64)
    assert comps.shape == (k, n_features), f"{where}: components_ {comps.shape}"
    assert int(pca["n_components_"]) == k and int(pca["n_features_in_"]) == n_features, where
    assert np.shape(pca["mean_"]) == (n_features,), f"{where}: mean_"
    for key in ("explained_variance_", "explained_variance_ratio_", "singular_values_"):
        assert np.shape(pca[key]) == (k,), f"{where}: {key}"
    gram = comps @ comps.T
    assert np.abs(gram - np.eye(k)).max() <= 1e-6, f"{where}: components are not orthonormal"
    var = np.asarray(pca["explained_variance_"], dtype=np.float64)
    assert np.all(var > 0), f"{where}: explained variance not positive"
    assert np.all(np.diff(var) <= 0), f"{where}: explained variance increases"
    ratio = np.asarray(pca["explained_variance_ratio_"], dtype=np.float64)
    assert np.all(ratio > 0) and ratio.sum() <= 1 + 1e-6, f"{where}: explained variance ratio"
    # sklearn's relation between singular values and variances: s² / (n − 1)
    n = int(pca["n_samples_"])
    s = np.asarray(pca["singular_values_"], dtype=np.float64)
    np.testing.assert_allclose(s**2 / (n - 1), var, rtol=1e-5, err_msg=where)


def _check_regression(where: str, reg: dict, k: int, shape: tuple[int, int]) -> None:
    coef = np.asarray(reg["coef_"])
    assert coef.shape == (shape[0] * shape[1], k), f"{where}: coef_ {coef.shape}"
    assert coef.reshape(*shape, k).shape == (*shape, k)  # BERG's reshape: row = target·times + t
    assert np.shape(reg["intercept_"]) == (shape[0] * shape[1],), f"{where}: intercept_"
    assert int(reg["n_features_in_"]) == k, f"{where}: n_features_in_"
    assert np.isfinite(coef).all(), f"{where}: non-finite coefficients"


def test_every_planned_model_is_exported_and_no_other(run, exported):
    """Every EEG/MEG model folder the config asks for, and no other EEG/MEG one (fMRI models,
    e.g. the demo's CNN8, have their own checks in test_fmri_mosaic_layout.py)."""
    planned = {(m.folder, m.modality) for m in exported}
    tree = run / "results/berg/encoding_models"
    found = {
        (p.parent, modality)
        for modality in ("eeg", "meg")
        for p in tree.glob(f"modality-{modality}/train_dataset-*/model-*/encoding_models_weights")
    }
    assert found == planned


def test_eeg_files_hold_what_bergs_loader_reads(exported, feature_count):
    for m in (m for m in exported if m.modality == "eeg"):
        meta_path = m.folder / f"metadata/metadata_subject-{m.subject:02d}.npy"
        meta = _load(meta_path)
        assert isinstance(meta["eeg"]["ch_names"], list), f"{meta_path}: ch_names must be a list"
        shape = (len(meta["eeg"]["ch_names"]), len(meta["eeg"]["times"]))
        assert shape == (63, 140), f"{meta_path}: BERG's EEG loader hard-codes 140 times"
        path = m.folder / f"encoding_models_weights/weights_subject-{m.subject:02d}.npy"
        weights = _load(path)
        assert set(weights) >= {"scaler_param", "pca_param", "reg_param"}, path
        _check_scaler(path, weights["scaler_param"], feature_count)
        reps = [f"rep-{r}" for r in range(1, len(weights["pca_param"]) + 1)]
        assert len(reps) == 4, f"{path}: one PCA per training repetition"
        assert list(weights["pca_param"]) == reps and list(weights["reg_param"]) == reps, path
        for rep in reps:
            _check_pca(f"{path}[{rep}]", weights["pca_param"][rep], m.n_components, feature_count)
            _check_regression(f"{path}[{rep}]", weights["reg_param"][rep], m.n_components, shape)


def test_meg_files_hold_bergs_names_and_shapes(exported, feature_count):
    for m in (m for m in exported if m.modality == "meg"):
        meta_path = m.folder / f"metadata/metadata_P{m.subject}.npy"
        meta = _load(meta_path)
        regions, prefixes = meta["sensors"]["sensor_regions"], meta["sensors"]["sensor_prefixes"]
        assert isinstance(regions, np.ndarray) and isinstance(prefixes, np.ndarray), meta_path
        assert set(prefixes.tolist()) <= MEG_PREFIXES, f"{meta_path}: sensor prefixes"
        shape = (len(regions), len(meta["meg"]["times"]))
        assert shape == (271, 281), f"{meta_path}: {shape}"
        dicts = {}
        for suffix in MEG_WEIGHTS:
            path = m.folder / f"encoding_models_weights/weights_P{m.subject}_{suffix}.npy"
            weights = dicts[suffix] = _load(path)
            assert set(weights) >= {"scaler_param", "pca_param", "reg_param"}, path
            _check_scaler(path, weights["scaler_param"], feature_count)
            _check_pca(str(path), weights["pca_param"], m.n_components, feature_count)
            _check_regression(str(path), weights["reg_param"], m.n_components, shape)
        # BERG's older loader reads `_full`, the newer `_all_training_splits`: the same model
        for part in ("scaler_param", "pca_param", "reg_param"):
            for key, value in dicts["full"][part].items():
                np.testing.assert_array_equal(value, dicts["all_training_splits"][part][key])


def test_api_equals_an_independent_reference_of_the_exported_files(run, exported):
    """``BERG.encode`` = a scikit-learn readout of the exported ``.npy`` dicts on alexnet features
    of the preset applied to the uint8 tensor, for the dataset's test images and two 300 px noise
    images (downsampled, where the tensor resize antialiases): max |Δ| ≤ 1e-5 × max |reference|."""
    berg = BERG(run / "results/berg")
    noise = np.random.default_rng(5).integers(0, 256, (2, 3, 300, 300), dtype=np.uint8)
    for m in exported:
        image_sets = (dataset_test_images(run, m.dataset)[:12], noise)
        feats = np.concatenate([alexnet_features(images, "tensor") for images in image_sets])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallStimulusWarning)
            if m.modality == "eeg":
                model = berg.get_encoding_model(m.model_id, m.subject)
                out = np.concatenate([berg.encode(model, images) for images in image_sets])
                assert out.shape == (len(feats), 4, 63, 140)
                assert relative_max(out, eeg_reference(m.folder, m.subject, feats)) <= 1e-5, m
                continue
            for splits in ("all", "single"):
                model = berg.get_encoding_model(m.model_id, m.subject, train_splits=splits)
                out = np.concatenate([berg.encode(model, images) for images in image_sets])
                reference = meg_reference(m.folder, m.subject, feats, splits)
                assert out.shape == reference.shape
                assert relative_max(out, reference) <= 1e-5, (m, splits)
