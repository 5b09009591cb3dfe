"""The ``mlp`` kind in the workflow: added to a copy of the session's tiny build (`tiny_built`),
only its fit and evaluation run; its PCA is the linear kind's of the same split, its evaluation
scores the predictions an independent forward pass gives, and its export in bergforge's own
layout loads through the BERG API."""

from __future__ import annotations

import json
import re
import shutil
from math import erf

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.numpy import load_file

from bergforge import BERG
from bergforge.api.stimulus import SmallStimulusWarning
from bergforge.export.own_layout import export_own_model, recorded_backbone
from bergforge.features.store import FeatureStore
from bergforge.preprocess.responses import PreparedResponses
from conftest import run_snakemake

pytestmark = pytest.mark.workflow

MODEL = "results/models/tiny/mlp_alexnet_untrained/sub-01/split-all"
EVALUATION = "results/evaluation/tiny/mlp_alexnet_untrained/sub-01/evaluation.npz"
FEATURES = "results/features/tiny/alexnet_untrained/features.json"
# n_components and pca as the tiny build's models.linear: the same PCA as the linear models'
SETTINGS = {"backbones": ["alexnet_untrained"], "n_components": 4, "pca": {"block_size": 50000}}
SETTINGS |= {"hidden": 16}
SETTINGS |= {"max_epochs": 6, "patience": 6, "batch_size": 4, "device": "cpu"}


def forward(tensors: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """The model's responses, written out here: scaler, PCA, standardisation, GELU, output."""
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    x = (features.astype(np.float64) - t["scaler.mean_"]) / t["scaler.scale_"]
    h = (x @ t["pca.components_"].T - t["input.mean"]) / t["input.scale"]
    h = h @ t["mlp.hidden.0.weight"].T + t["mlp.hidden.0.bias"]
    h = h * 0.5 * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    out = h @ t["mlp.out.weight"].T + t["mlp.out.bias"]
    return out * t["target.scale"] + t["target.mean"]


def test_an_mlp_added_to_the_tiny_build_fits_evaluates_and_exports(tiny_built, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_built, work, symlinks=True)  # mtimes and .snakemake metadata kept
    path = work / "config/config.yaml"
    config = yaml.safe_load(path.read_text())
    config["datasets"]["tiny"]["models"]["mlp"] = SETTINGS
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    run = run_snakemake(work, "--cores", "2", EVALUATION, "--quiet", "rules")
    table = run.stdout + run.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    assert jobs == {"fit_mlp": "1", "evaluate_subject": "1", "total": "2"}, table

    model = work / MODEL
    files = sorted(p.name for p in model.iterdir())
    # no checkpoint; the fit job's record (fit_job.json) beside the kind's files
    assert files == ["checksums.json", "fit_job.json", "model.json", "weights.safetensors"]
    record = json.loads((model / "model.json").read_text())
    assert record["device"] == "cpu" and record["epochs"] <= 6 and record["input"] == "pca"
    log = (work / "logs/models/tiny/mlp_alexnet_untrained/sub-01_split-all.log").read_text()
    assert "epoch 1/6: training loss" in log and "validation loss" in log

    # the input PCA is the linear kind's PCA of the same split (same code, options and seed)
    tensors = load_file(model / "weights.safetensors")
    with np.load(work / "results/models/tiny/alexnet_untrained/sub-01/split-all/pca.npz") as pca:
        np.testing.assert_array_equal(tensors["pca.components_"], pca["components_"])

    # the evaluation scores exactly what the weights predict for the test images
    stimuli = pd.read_csv(work / "results/prepared/tiny/stimuli.tsv", sep="\t")
    test_rows = stimuli[stimuli["split"] == "test"].sort_values("index").index.to_numpy()
    store = FeatureStore.open(work / FEATURES)
    expected = forward(tensors, store.read_columns(0, store.shape[1], test_rows))
    with np.load(work / EVALUATION) as ev:
        assert list(ev["splits"]) == ["all"]
        predicted = ev["test_predictions"][0].reshape(len(test_rows), -1)
        corr = ev["correlation"][0].ravel()
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    prepared = PreparedResponses(work / "results/prepared/tiny/sub-01.zarr")
    observed = np.nanmean(np.asarray(prepared.group["test"][:], np.float64), axis=1)
    o = observed.reshape(len(test_rows), -1) - observed.reshape(len(test_rows), -1).mean(0)
    p = predicted - predicted.mean(0)
    r = (p * o).sum(0) / np.sqrt((p**2).sum(0) * (o**2).sum(0))
    np.testing.assert_allclose(corr, r, rtol=1e-5, atol=1e-6)

    # exported in bergforge's own layout, loaded and run through the BERG API
    model_id = "eeg-tiny_eeg_berg-mlp_alexnet_untrained"
    root = tmp_path / "berg"
    folder = root / "encoding_models/modality-eeg/train_dataset-tiny_eeg_berg"
    export_own_model(
        "mlp",
        model_id,
        folder / "model-mlp_alexnet_untrained",
        [1],
        {(1, "all"): model},
        {1: prepared.path},
        recorded_backbone(work / FEATURES),
        {1: work / "results/evaluation/tiny/mlp_alexnet_untrained/sub-01/summary.json"},
        config,
    )
    berg = BERG(root)
    loaded = berg.get_encoding_model(model_id, subject=1, device="cpu")
    images = np.random.default_rng(0).integers(0, 256, size=(2, 3, 64, 64), dtype=np.uint8)
    with pytest.warns(SmallStimulusWarning):  # 64 px images: upsampled, as for every model
        responses = berg.encode(loaded, images)
    reference = forward(tensors, loaded.extractor(images)).reshape(responses.shape)
    np.testing.assert_allclose(responses, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())
