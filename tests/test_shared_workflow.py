"""The ``shared`` kind in the workflow. The session's tiny build (`tiny_built`) has one subject per
dataset, so a copy of it gets a second simulated subject on its EEG dataset (the smallest change
that gives a dataset of two subjects: only that subject's simulation and preprocessing run) and a
``shared`` model; only the shared fit, subject 1's evaluation and its unseen-subject evaluation
run. The evaluation scores the subject's adapter on the trunk, the unseen-subject file scores its
own predictions and carries the subject's linear r, and the export in bergforge's own layout loads
each subject's model through the BERG API."""

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

MODEL = "results/models/tiny/shared_alexnet_untrained"
EVALUATION = "results/evaluation/tiny/shared_alexnet_untrained/sub-{:02d}/evaluation.npz"
UNSEEN = "results/evaluation/tiny/shared_alexnet_untrained/unseen/sub-01"
LINEAR = "results/evaluation/tiny/alexnet_untrained/sub-01/evaluation.npz"
FEATURES = "results/features/tiny/alexnet_untrained/features.json"
SETTINGS = {"backbones": ["alexnet_untrained"], "n_components": 4, "pca": {"block_size": 50000}}
SETTINGS |= {"hidden": 8, "max_epochs": 3, "patience": 3, "batch_size": 4, "device": "cpu"}
SETTINGS |= {"few_shot_k": 6, "unseen_subjects": [1]}


def forward(t: dict[str, np.ndarray], features: np.ndarray, subject: int) -> np.ndarray:
    """A subject's responses, written out here: scaler, PCA, standardisation, trunk, adapter."""
    t = {k: v.astype(np.float64) for k, v in t.items()}
    x = (features.astype(np.float64) - t["scaler.mean_"]) / t["scaler.scale_"]
    h = (x @ t["pca.components_"].T - t["input.mean"]) / t["input.scale"]
    h = h @ t["trunk.hidden.0.weight"].T + t["trunk.hidden.0.bias"]
    h = h * 0.5 * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    sub = f"sub-{subject:02d}"
    out = h @ t[f"adapter.{sub}.weight"].T + t[f"adapter.{sub}.bias"]
    return out * t[f"target.{sub}.scale"] + t[f"target.{sub}.mean"]


def pearson(p: np.ndarray, o: np.ndarray) -> np.ndarray:
    p, o = p - p.mean(0), o - o.mean(0)
    return (p * o).sum(0) / np.sqrt((p**2).sum(0) * (o**2).sum(0))


def test_a_shared_model_added_to_the_tiny_build_fits_evaluates_and_exports(tiny_built, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_built, work, symlinks=True)  # mtimes and .snakemake metadata kept
    path = work / "config/config.yaml"
    config = yaml.safe_load(path.read_text())
    config["datasets"]["tiny"]["subjects"] = [1, 2]
    config["datasets"]["tiny"]["models"]["shared"] = SETTINGS
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    targets = [EVALUATION.format(1), f"{UNSEEN}/unseen.npz"]
    run = run_snakemake(work, "--cores", "2", *targets, "--quiet", "rules")
    table = run.stdout + run.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    assert jobs == {
        "simulate_eeg_subject": "1",
        "preprocess_eeg_subject": "1",
        "fit_shared": "1",
        "evaluate_subject": "1",
        "evaluate_unseen": "1",
        "total": "5",
    }, table

    model = work / MODEL
    assert sorted(p.name for p in model.iterdir()) == [
        "checksums.json",
        "fit_job.json",
        "model.json",
        "weights.safetensors",
    ]
    record = json.loads((model / "model.json").read_text())
    assert record["subjects"] == [1, 2] and record["device"] == "cpu" and record["epochs"] == 3
    log = (work / "logs/models/tiny/shared_alexnet_untrained/fit.log").read_text()
    assert "epoch 1/3: training loss" in log and "2 subjects, 12 distinct training images" in log

    # the subject's evaluation scores exactly what its adapter on the trunk predicts
    tensors = load_file(model / "weights.safetensors")
    stimuli = pd.read_csv(work / "results/prepared/tiny/stimuli.tsv", sep="\t")
    test_rows = stimuli[stimuli["split"] == "test"].sort_values("index").index.to_numpy()
    store = FeatureStore.open(work / FEATURES)
    test_features = store.read_columns(0, store.shape[1], test_rows)
    observed = {}
    for subject in (1, 2):
        prepared = PreparedResponses(work / f"results/prepared/tiny/sub-{subject:02d}.zarr")
        test = np.asarray(prepared.group["test"][:], np.float64)
        observed[subject] = np.nanmean(test, axis=1).reshape(len(test_rows), -1)
        if subject == 2:
            continue  # its evaluation is not asked for
        expected = forward(tensors, test_features, subject)
        with np.load(work / EVALUATION.format(subject)) as ev:
            assert list(ev["splits"]) == ["all"]
            predicted = ev["test_predictions"][0].reshape(len(test_rows), -1)
            corr = ev["correlation"][0].ravel()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-4 * scale)
        np.testing.assert_allclose(
            corr, pearson(predicted, observed[subject]), rtol=1e-5, atol=1e-6
        )

    # subject 1 unseen: trained on subject 2 alone; its predictions scored as written; the
    # subject's own linear r beside them
    summary = json.loads((work / UNSEEN / "summary.json").read_text())
    assert summary["held_out_subject"] == 1 and summary["trained_subjects"] == [2]
    assert summary["few_shot"]["k"] == 6 and len(summary["few_shot"]["image_ids"]) == 6
    assert summary["own_linear"] == {"evaluation": LINEAR, "split": "all"}
    with np.load(work / UNSEEN / "unseen.npz") as ev:
        arrays = {k: ev[k] for k in ev.files}
    assert list(arrays["methods"]) == ["mean_adapter", "few_shot", "own_linear"]
    assert arrays["covered"].all()  # the same 17 channels × times for both subjects
    for i in range(2):
        p = arrays["test_predictions"][i].reshape(len(test_rows), -1).astype(np.float64)
        r = pearson(p, observed[1])
        np.testing.assert_allclose(arrays["correlation"][i].ravel(), r, atol=1e-5)
        m = summary["methods"][arrays["methods"][i]]["median_correlation"]
        assert m == pytest.approx(float(np.median(r)), abs=1e-5)
    with np.load(work / LINEAR) as linear:
        own = linear["correlation"][list(linear["splits"]).index("all")]
    np.testing.assert_array_equal(arrays["correlation"][2], own)
    assert not (work / UNSEEN / "checkpoint.safetensors").exists()
    log = (work / "logs/evaluate/tiny/shared_alexnet_untrained/unseen_sub-01.log").read_text()
    assert "subject 1 held out; the trunk is trained on subjects [2]" in log
    assert "epoch 1/3: training loss" in log

    # exported in bergforge's own layout (one weights file, every subject's adapter), loaded per
    # subject through the BERG API
    model_id = "eeg-tiny_eeg_berg-shared_alexnet_untrained"
    root = tmp_path / "berg"
    folder = root / "encoding_models/modality-eeg/train_dataset-tiny_eeg_berg"
    export_own_model(
        "shared",
        model_id,
        folder / "model-shared_alexnet_untrained",
        [1, 2],
        {(1, "all"): model, (2, "all"): model},
        {s: work / f"results/prepared/tiny/sub-{s:02d}.zarr" for s in (1, 2)},
        recorded_backbone(work / FEATURES),
        {1: work / EVALUATION.format(1).replace("evaluation.npz", "summary.json")},
        config,
    )
    assert sorted(
        p.name for p in (folder / "model-shared_alexnet_untrained/weights").iterdir()
    ) == ["split-all.safetensors"]
    berg = BERG(root)
    images = np.random.default_rng(0).integers(0, 256, size=(2, 3, 64, 64), dtype=np.uint8)
    for subject in (1, 2):
        loaded = berg.get_encoding_model(model_id, subject=subject, device="cpu")
        with pytest.warns(SmallStimulusWarning):  # 64 px images: upsampled, as for every model
            responses = berg.encode(loaded, images)
        reference = forward(tensors, loaded.extractor(images), subject).reshape(responses.shape)
        np.testing.assert_allclose(
            responses, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max()
        )
