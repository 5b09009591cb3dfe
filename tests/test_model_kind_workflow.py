"""A model kind outside the package (tests/toy_kind.py) goes through every stage on a tiny config:
registered by config `model_kinds`, fitted by the generated fit rule, evaluated by the generic
evaluation, exported in bergforge's own layout, released, and loaded through the same BERG API."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from bergforge import BERG
from bergforge.api.stimulus import SmallStimulusWarning
from bergforge.features.store import FeatureStore
from bergforge.preprocess.responses import PreparedResponses
from conftest import TINY_CHAIN

pytestmark = pytest.mark.workflow

MODEL_DIR = (
    "results/berg/encoding_models/modality-eeg/train_dataset-tiny_eeg_berg/"
    "model-toy_alexnet_untrained"
)
MODEL_ID = "eeg-tiny_eeg_berg-toy_alexnet_untrained"


@pytest.fixture(scope="module")
def built(tiny_built) -> Path:
    """The shared tiny chain (conftest.TINY_CHAIN): its EEG dataset also builds the toy kind,
    registered by config `model_kinds: {toy: toy_kind}` (tests/ is on the jobs' PYTHONPATH)."""
    assert TINY_CHAIN["datasets"]["tiny"]["models"]["toy"]["n_columns"] == 6
    return tiny_built


def test_the_generated_fit_rule_fits_the_toy_model(built):
    model = built / "results/models/tiny/toy_alexnet_untrained/sub-01/split-all"
    assert (model / "model.json").is_file() and (model / "weights.npz").is_file()
    # the independent reference: least squares of the repetition-mean training responses
    store = PreparedResponses(built / "results/prepared/tiny/sub-01.zarr")
    train = np.asarray(store.group["train"][:], dtype=np.float64)
    y = np.nanmean(train, axis=1).reshape(train.shape[0], -1)
    features = FeatureStore.open(built / "results/features/tiny/alexnet_untrained/features.json")
    import pandas as pd

    stimuli = pd.read_csv(built / "results/prepared/tiny/stimuli.tsv", sep="\t")
    part = stimuli[stimuli["split"] == "train"].sort_values("index")
    x = features.read_columns(0, 6, part.index.to_numpy())
    design = np.hstack([x, np.ones((len(x), 1))])
    reference = np.linalg.lstsq(design, y, rcond=None)[0]
    with np.load(model / "weights.npz") as w:
        np.testing.assert_allclose(w["coef"], reference[:-1], rtol=1e-6, atol=1e-8)


def test_the_generic_evaluation_scores_the_toy_predictions(built):
    with np.load(
        built / "results/evaluation/tiny/toy_alexnet_untrained/sub-01/evaluation.npz"
    ) as f:
        corr, pred = f["correlation"], f["test_predictions"]
        assert list(f["splits"]) == ["all"]
    store = PreparedResponses(built / "results/prepared/tiny/sub-01.zarr")
    observed = np.nanmean(np.asarray(store.group["test"][:], np.float64), axis=1)
    p = pred[0].reshape(pred.shape[1], -1).astype(np.float64)
    o = observed.reshape(observed.shape[0], -1)
    pc, oc = p - p.mean(0), o - o.mean(0)
    r = (pc * oc).sum(0) / np.sqrt((pc**2).sum(0) * (oc**2).sum(0))
    np.testing.assert_allclose(corr[0].ravel(), r, rtol=1e-5, atol=1e-6)


def test_the_own_layout_export_loads_through_the_berg_api(built):
    folder = built / MODEL_DIR
    listed = sorted(
        line.split("  ")[1] for line in (folder / "SHA256SUMS").read_text().splitlines()
    )
    assert "bergforge_model.json" in listed and "weights/sub-01_split-all.safetensors" in listed
    berg = BERG(built / "results/berg", model_kinds={"toy": "toy_kind"})
    assert MODEL_ID in berg.list_models() and berg.subjects(MODEL_ID) == [1]
    model = berg.get_encoding_model(MODEL_ID, subject=1, device="cpu")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 3, 64, 64), dtype=np.uint8)
    responses = berg.encode(model, images)
    with np.load(
        built / "results/models/tiny/toy_alexnet_untrained/sub-01/split-all/weights.npz"
    ) as w:
        coef, intercept = w["coef"], w["intercept"]
    feats = model.extractor(images)[:, :6].astype(np.float64)
    expected = (feats @ coef + intercept).reshape(responses.shape)
    np.testing.assert_allclose(responses, expected, rtol=1e-5, atol=1e-6)


def test_the_own_layout_model_is_part_of_the_release(built):
    from bergforge.release import verify_release
    from conftest import TINY_RELEASE

    release = built / TINY_RELEASE
    listed = (release / "SHA256SUMS").read_text()
    assert f"{MODEL_DIR.removeprefix('results/berg/')}/bergforge_model.json" in listed
    assert verify_release(release).ok
    provenance = (release / "provenance.json").read_text()
    assert "tiny/toy_alexnet_untrained/sub-01/split-all" in provenance
    # the folder's own manifest brings the files it lists (weights, card): the release loads
    folder = release / MODEL_DIR.removeprefix("results/berg/")
    assert (folder / "weights/sub-01_split-all.safetensors").read_bytes() == (
        built / MODEL_DIR / "weights/sub-01_split-all.safetensors"
    ).read_bytes()
    images = np.random.default_rng(1).integers(0, 256, size=(2, 3, 64, 64), dtype=np.uint8)
    released = BERG(release, model_kinds={"toy": "toy_kind"})
    exported = BERG(built / "results/berg", model_kinds={"toy": "toy_kind"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallStimulusWarning)
        np.testing.assert_array_equal(
            released.encode(released.get_encoding_model(MODEL_ID, 1, device="cpu"), images),
            exported.encode(exported.get_encoding_model(MODEL_ID, 1, device="cpu"), images),
        )
