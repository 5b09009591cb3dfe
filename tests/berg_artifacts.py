"""Upstream artifacts for the BERG export tests, in exactly the contract format of docs/interfaces.md.

Until the encoding and evaluation stages exist, these tests build them here: features from the
pipeline's extraction path (``extract_in_memory`` on the image files), scikit-learn's
StandardScaler → PCA → LinearRegression per split, test predictions with sklearn's ``predict``, and
the NSD noise ceiling. Responses are a known linear map of the features plus noise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from bergforge.datasets.sensors import (
    BAD_MEG_SENSOR,
    EEG_CHANNELS,
    meg_sensor_names,
    sensor_metadata,
)
from bergforge.export.berg import PCA_KEYS, SCALER_KEYS
from bergforge.features.backbones import extract_in_memory
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.preprocess.stimuli import write_stimuli_table
from bergforge.preprocess.store import atomic_store

BACKBONE = "alexnet_untrained"
SPLITS = ("all", "single-1", "single-2", "single-3", "single-4")


def images_as_array(files: list[Path]) -> np.ndarray:
    """uint8 [batch, 3, H, W] of image files (what a user hands to ``encode``)."""
    return np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))


def build_upstream(
    root: Path,
    dataset: str,
    modality: str,
    image_table: Path,
    subject: int = 1,
    n_components: int = 6,
    n_test_reps: int = 4,
    seed: int = 0,
) -> dict:
    """Write prepared attrs, stimuli.tsv, models and evaluation for one subject; return test data."""
    rng = np.random.default_rng(seed + subject)
    raw = pd.read_csv(image_table, sep="\t")
    raw = pd.concat([raw[raw["split"] == "train"], raw[raw["split"] == "test"]], ignore_index=True)
    files = [f"resources/raw/{dataset}/{f}" for f in raw["file"]]
    stimuli = pd.DataFrame(
        {
            "image_id": [Path(f).stem for f in raw["file"]],
            "split": raw["split"],
            "index": raw.groupby("split").cumcount(),
            "concept": raw["concept"],
            "file": files,
        }
    )
    prepared = root / "results" / "prepared" / dataset
    prepared.mkdir(parents=True, exist_ok=True)
    write_stimuli_table(stimuli, prepared / "stimuli.tsv")

    if modality == "meg":
        channels = [n for n in meg_sensor_names() if n != BAD_MEG_SENSOR]
        times = np.round(np.arange(-20, 261) / 200, 6)
        n_train_reps = 1
    else:
        channels, times, n_train_reps = (
            list(EEG_CHANNELS),
            np.round(np.arange(-20, 120) / 200, 6),
            4,
        )
    n_ch, n_t = len(channels), len(times)
    is_train = (stimuli["split"] == "train").to_numpy()
    n_train, n_test = int(is_train.sum()), int((~is_train).sum())

    feats = extract_in_memory(BACKBONE, [root / f for f in files])
    x_std = StandardScaler().fit_transform(feats)
    latent = x_std @ rng.standard_normal((feats.shape[1], 4)) / np.sqrt(feats.shape[1])
    signal = latent @ rng.standard_normal((4, n_ch * n_t))
    noise_sd = 0.5
    y_train = signal[is_train][:, None] + noise_sd * rng.standard_normal(
        (n_train, n_train_reps, n_ch * n_t)
    )
    y_test = signal[~is_train][:, None] + noise_sd * rng.standard_normal(
        (n_test, n_test_reps, n_ch * n_t)
    )

    attrs = {
        "modality": modality,
        "dataset": dataset,
        "subject": subject,
        "dims": ["image", "repetition", "channel", "time"],
        "channels": channels,
        "ch_type": "mag" if modality == "meg" else "csd",
        "times": times.tolist(),
        "sfreq": 200.0,
        "baseline_mode": "mean",
        "preprocessing": {"l_freq": 0.1, "h_freq": 40.0},
        "bergforge_version": "test",
    }
    if modality == "meg":
        attrs |= {
            k: v.tolist() for k, v in sensor_metadata(channels).items() if k != "sensor_names"
        }
    with atomic_store(prepared / f"sub-{subject:02d}.zarr") as (group, _staging):
        group.attrs.update(attrs)
        for split, y in (("train", y_train), ("test", y_test)):
            group.create_array(split, data=y.reshape(len(y), -1, n_ch, n_t).astype(np.float32))
        sessions = np.tile(np.arange(1, n_test_reps + 1, dtype=np.int16), (n_test, 1))
        group.create_array("test_session", data=sessions)
        group.create_array("test_run", data=np.ones_like(sessions))
        group.create_array(
            "train_session",
            data=(np.arange(n_train * n_train_reps) % 4 + 1).astype(np.int16).reshape(n_train, -1),
        )
        group.create_array("train_run", data=np.ones((n_train, n_train_reps), dtype=np.int16))

    perm = np.random.default_rng(20200220).permutation(n_train)
    quarter = n_train // 4
    x_train, x_test = feats[is_train], feats[~is_train]
    preds = []
    for split in SPLITS:
        if modality == "meg" and split != "all":
            k = int(split[-1])
            idx = np.sort(perm[(k - 1) * quarter : k * quarter])
            y = y_train[idx, 0]
        else:
            idx = np.arange(n_train)
            y = y_train.mean(1) if split == "all" else y_train[:, int(split[-1]) - 1]
        scaler = StandardScaler().fit(x_train[idx])
        pca = PCA(n_components=n_components, random_state=seed + len(preds)).fit(
            scaler.transform(x_train[idx])
        )
        reg = LinearRegression().fit(pca.transform(scaler.transform(x_train[idx])), y)
        preds.append(reg.predict(pca.transform(scaler.transform(x_test))))
        out = (
            root
            / "results"
            / "models"
            / dataset
            / BACKBONE
            / f"sub-{subject:02d}"
            / f"split-{split}"
        )
        out.mkdir(parents=True, exist_ok=True)
        np.savez(
            out / "scaler.npz",
            **{k: np.asarray(getattr(scaler, k)) for k in SCALER_KEYS},
        )
        np.savez(
            out / "pca.npz",
            **{k: np.asarray(getattr(pca, k)) for k in PCA_KEYS},
        )
        np.savez(
            out / "regression.npz",
            coef_=reg.coef_,
            intercept_=reg.intercept_,
            alpha_=np.zeros(len(reg.intercept_)),
        )
        (out / "model.json").write_text(
            json.dumps(
                {
                    "kind": "ols",
                    "target_dims": ["channel", "time"],
                    "target_shape": [n_ch, n_t],
                    "train_indices": idx.tolist(),
                    "seeds": {"pca": seed},
                    "pca": {"n_components": n_components},
                }
            )
        )
        seal_model_folder(out)  # as the fit job does after the kind's fit

    preds = np.stack(preds)  # [split, image, targets]
    y_avg = y_test.mean(1)
    corr = np.stack([_pearson(y_avg, p) for p in preds])
    var_noise = y_test.var(1, ddof=1).mean(0)
    var_total = y_test.reshape(-1, n_ch * n_t).var(0, ddof=1)
    ncsnr = np.sqrt(np.maximum(var_total - var_noise, 0)) / np.sqrt(var_noise)
    nc = 100 * ncsnr**2 / (ncsnr**2 + 1 / n_test_reps)
    with np.errstate(divide="ignore", invalid="ignore"):
        pnc = np.where(nc > 0, 100 * np.maximum(corr, 0) ** 2 / (nc / 100), np.nan)
    shape = (n_ch, n_t)
    ev_dir = root / "results" / "evaluation" / dataset / BACKBONE / f"sub-{subject:02d}"
    ev_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        ev_dir / "evaluation.npz",
        splits=np.array(SPLITS),
        test_predictions=preds.reshape(len(SPLITS), n_test, *shape).astype(np.float32),
        correlation=corr.reshape(len(SPLITS), *shape),
        correlation_split_average=_pearson(y_avg, preds[1:].mean(0)).reshape(shape),
        ncsnr=ncsnr.reshape(shape),
        noise_ceiling=nc.reshape(shape),
        percent_noise_ceiling=pnc.reshape(len(SPLITS), *shape),
        n_test_repetitions=np.full(shape, n_test_reps),
    )
    (ev_dir / "summary.json").write_text(
        json.dumps({s: float(np.median(c)) for s, c in zip(SPLITS, corr, strict=True)})
    )
    test_files = [root / f for f in np.asarray(files)[~is_train]]
    return {
        "test_images": images_as_array(test_files),
        "predictions": preds.reshape(len(SPLITS), n_test, *shape),
        "shape": shape,
    }


#: Image sets of the export tests: few images, 64 px (the loader warns below 224 px).
SMALL_EEG = {
    "format": "things_eeg2",
    "simulation": {
        "seed": 8,
        "n_train_concepts": 4,
        "images_per_concept": 3,
        "n_test_images": 6,
        "image_size": 64,
    },
}
SMALL_MEG = {
    "format": "things_meg1",
    "simulation": {
        "seed": 7,
        "n_train_concepts": 4,
        "images_per_concept": 4,
        "n_test_images": 6,
        "image_size": 64,
    },
}
BERG_DATASET = {"meg": "things_meg_1", "eeg": "things_eeg_2"}


def build_upstream_study(root: Path, modality: str, dataset: str = "tiny", subjects=(1,)) -> dict:
    """Simulated images + upstream artifacts of ``subjects`` under ``root`` (a workflow workdir)."""
    from bergforge.simulate.study import simulate_images

    cfg = SMALL_MEG if modality == "meg" else SMALL_EEG
    raw = root / "resources" / "raw" / dataset
    table = raw / "ground_truth" / "images.tsv"
    simulate_images(cfg["format"], cfg["simulation"], dataset, raw, table)
    return {
        s: build_upstream(root, dataset, modality, table, subject=s, n_components=3)
        for s in subjects
    }


def build_exported_tree(root: Path, modality: str) -> dict:
    """Upstream artifacts, then the export, plots and card of one subject, as the rules run them."""
    from bergforge.export.berg import export_subject
    from bergforge.export.cards import write_card
    from bergforge.export.layout import ModelId
    from bergforge.export.plots import plot_subject
    from bergforge.workflow.export import EXPORT_SPLITS

    upstream = build_upstream_study(root, modality)[1]
    model = ModelId(modality, BERG_DATASET[modality], BACKBONE)
    model_dir = model.folder(root / "results" / "berg")
    models = root / "results" / "models" / "tiny" / BACKBONE / "sub-01"
    written = export_subject(
        model_dir,
        modality,
        1,
        root / "results" / "prepared" / "tiny" / "sub-01.zarr",
        root / "results" / "prepared" / "tiny" / "stimuli.tsv",
        {s: models / f"split-{s}" for s in EXPORT_SPLITS[modality]},
        root / "results" / "evaluation" / "tiny" / BACKBONE / "sub-01" / "evaluation.npz",
    )
    plots = plot_subject(model_dir, modality, 1, str(model))
    card = write_card(model_dir, str(model), [1])
    return {
        **upstream,
        "berg_dir": root / "results" / "berg",
        "model_id": str(model),
        "model_dir": model_dir,
        "written": written,
        "plots": plots,
        "card": card,
    }
