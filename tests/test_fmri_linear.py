"""The linear encoding path on an fMRI dataset: NSD images from HDF5 → features → ridge → evaluation.

One real Snakemake run on a tiny simulated NSD study (two subjects who see different training
images) serves the workflow assertions; the accuracy is checked against the simulator's true betas.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bergforge.config import validate_config
from bergforge.errors import ConfigError, DataError
from bergforge.features.errors import ImageError
from bergforge.features.job import extract_shard
from bergforge.features.store import FeatureStore
from bergforge.workflow.models import check_models
from bergforge.workflow.targets import evaluation_targets, feature_targets, model_targets
from conftest import TINY_MEG, make_workdir, run_snakemake

DATASET, BACKBONE = "lin_nsd", "alexnet_untrained"
CONFIG = {
    "datasets": {"tiny_meg": TINY_MEG},
    "backbones": {BACKBONE: {}},
    "features": {"shard_size": 128, "batch_size": 16, "device": "cpu"},
    "models": {"linear": {"n_components": 10, "regression": "ridge_cv", "folds": 3}},
    "preprocess": {"glmsingle": {"n_pcs": 3}},
}
CONFIG["datasets"][DATASET] = {
    "format": "nsd_bold",
    "source": "simulated",
    "subjects": [1, 2],
    "models": {"linear": {"backbones": [BACKBONE]}},
    "simulation": {
        "seed": 5,
        "groups": [1, 4],
        "vertices_per_group": 10,
        "n_shared_images": 20,
        "n_subject_images": 48,
        "runs_per_session": 2,
        "image_size": 64,
    },
}
SETTINGS = {"shard_size": 64, "batch_size": 8, "device": "cpu", "workers": 2}


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(0), b - b.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))


def _config() -> dict:
    return validate_config(json.loads(json.dumps(CONFIG)))


def test_targets_of_a_linear_fmri_dataset():
    config = _config()
    stem = f"{DATASET}/{BACKBONE}"
    assert f"results/features/{stem}/features.json" in feature_targets(config)
    models = [t for t in model_targets(config) if t.startswith(f"results/models/{DATASET}/")]
    assert models == [f"results/models/{stem}/sub-{s}/split-all/model.json" for s in ("01", "02")]
    assert [t for t in evaluation_targets(config) if DATASET in t] == [
        f"results/evaluation/{stem}/sub-{s}/evaluation.npz" for s in ("01", "02")
    ]
    # the MEG dataset keeps its five splits
    assert sum("tiny_meg" in t for t in model_targets(config)) == 5


def test_linear_backbones_must_be_configured_backbones():
    config = json.loads(json.dumps(CONFIG))
    config["datasets"][DATASET]["models"]["linear"]["backbones"] = ["vit_b_32"]
    with pytest.raises(ConfigError, match=rf"datasets.{DATASET}.models.linear.backbones.*vit_b_32"):
        check_models(validate_config(config))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    workdir = make_workdir(tmp_path_factory.mktemp("fmri_linear"), CONFIG)
    targets = [t for t in evaluation_targets(_config()) if DATASET in t]
    run_snakemake(workdir, "--cores", "2", *targets)
    return workdir


def _truth(workdir: Path, subject: int) -> dict[str, np.ndarray]:
    path = workdir / f"resources/raw/{DATASET}/ground_truth/sub-{subject:02d}.npz"
    with np.load(path) as f:
        return dict(f)


def _stimuli(workdir: Path) -> pd.DataFrame:
    return pd.read_csv(workdir / f"results/prepared/{DATASET}/stimuli.tsv", sep="\t")


@pytest.mark.workflow
@pytest.mark.parametrize("subject", [1, 2])
def test_ridge_on_simulated_nsd_recovers_the_true_betas(workdir, subject):
    stimuli = _stimuli(workdir)
    truth = _truth(workdir, subject)
    model_dir = workdir / f"results/models/{DATASET}/{BACKBONE}/sub-{subject:02d}"
    assert sorted(p.name for p in model_dir.iterdir()) == ["split-all"]
    model = json.loads((model_dir / "split-all/model.json").read_text())
    # only the subject's own training images (all-NaN rows of the other subject dropped)
    test_ids = stimuli[stimuli["split"] == "test"].sort_values("index")["image_73k_id"].to_numpy()
    own = sorted(set(truth["image_73k_id"].tolist()) - set(test_ids.tolist()))
    assert (stimuli["split"] == "train").sum() == 2 * len(own)
    assert model["train_image_ids"] == [f"nsd-{i:05d}" for i in own]
    assert model["kind"] == "ridge_cv" and model["modality"] == "fmri"
    assert model["target_dims"] == ["vertex"] and model["target_shape"] == [20]

    ev_dir = workdir / f"results/evaluation/{DATASET}/{BACKBONE}/sub-{subject:02d}"
    with np.load(ev_dir / "evaluation.npz") as ev:
        assert list(ev["splits"]) == ["all"]
        assert ev["test_predictions"].shape == (1, 20, 20)
        assert ev["correlation"].shape == (1, 20) and ev["noise_ceiling"].shape == (20,)
        pred, r_obs, nc = ev["test_predictions"][0], ev["correlation"][0], ev["noise_ceiling"]
        assert float(ev["n_test_repetitions"]) == pytest.approx(3)
    # predictions against the simulator's true betas of the shared images
    column = {int(i): k for k, i in enumerate(truth["image_73k_id"])}
    true = truth["condition_betas"][:, [column[int(i)] for i in test_ids]].T
    signal = truth["signal"]
    assert 5 <= signal.sum() < signal.size
    r_true = _pearson(pred, true)
    assert np.median(r_true[signal]) > 0.5 and r_true[signal].min() > 0.1
    assert np.median(r_obs[signal]) > 0.4 > abs(np.median(r_obs[~signal])) + 0.2
    # the estimated noise ceiling follows the true one (high where there is signal)
    assert np.corrcoef(nc, truth["noise_ceiling_trial_avg"])[0, 1] > 0.6
    assert np.median(nc[signal]) > 60 > np.median(nc[~signal]) + 20
    summary = json.loads((ev_dir / "summary.json").read_text())
    assert summary["modality"] == "fmri" and set(summary["splits"]) == {"all"}


def _write_pngs(workdir: Path, rows: pd.DataFrame, root: Path) -> Path:
    """The brick images of ``rows`` as PNG files (lossless) and a file-based stimulus table."""
    with h5py.File(workdir / f"resources/raw/{DATASET}/nsd_stimuli.hdf5", "r") as f:
        brick = f["imgBrick"]
        files = []
        for i in rows["image_73k_id"]:
            rel = f"images/{int(i):05d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(brick[int(i) - 1]).save(root / rel)
            files.append(rel)
    table = rows.drop(columns=["image_73k_id"]).assign(file=files)
    table.to_csv(root / "stimuli.tsv", sep="\t", index=False)
    return root / "stimuli.tsv"


@pytest.mark.workflow
def test_hdf5_features_equal_features_of_the_same_images_as_files(workdir, tmp_path):
    stimuli = _stimuli(workdir)
    picked = np.r_[0:6, len(stimuli) - 6 : len(stimuli)]  # training and test rows
    table = _write_pngs(workdir, stimuli.iloc[picked].reset_index(drop=True), tmp_path)
    out = tmp_path / "shard-1-of-1.zarr"
    extract_shard(table, BACKBONE, {}, {**SETTINGS, "shard_size": 12}, 1, 1, out, 2, tmp_path)
    from_files = FeatureStore.open([out])
    from_hdf5 = FeatureStore.open(workdir / f"results/features/{DATASET}/{BACKBONE}")
    assert from_hdf5.shape[0] == len(stimuli) and from_files.shape[1] == from_hdf5.shape[1]
    assert from_files.image_ids == stimuli["image_id"].iloc[picked].tolist()
    np.testing.assert_allclose(
        from_files.read_rows(range(12)), from_hdf5.read_rows(picked), rtol=1e-4, atol=1e-4
    )


def _tiny_brick(root: Path, n: int = 3) -> Path:
    path = root / "nsd_stimuli.hdf5"
    pixels = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("imgBrick", data=pixels)
    return path


def _nsd_table(root: Path, ids: list[int]) -> Path:
    table = pd.DataFrame(
        {
            "image_id": [f"nsd-{i:05d}" for i in ids],
            "split": "train",
            "index": range(len(ids)),
            "concept": "",
            "file": "",
            "image_73k_id": ids,
        }
    )
    table.to_csv(root / "stimuli.tsv", sep="\t", index=False)
    return root / "stimuli.tsv"


def _extract(root: Path, image_file: Path | None) -> Path:
    out = root / "features" / "shard-1-of-1.zarr"
    extract_shard(
        root / "stimuli.tsv", BACKBONE, {}, SETTINGS, 1, 1, out, 1, root, image_file=image_file
    )
    return out


def test_unknown_73k_id_is_named_and_leaves_nothing(tmp_path):
    brick = _tiny_brick(tmp_path)
    _nsd_table(tmp_path, [1, 99999, 2])
    with pytest.raises(ImageError, match=r"image_73k_id 99999 is not in .*ids 1…3"):
        _extract(tmp_path, brick)
    assert not (tmp_path / "features").exists() or not any((tmp_path / "features").iterdir())


def test_missing_hdf5_and_missing_image_file_are_named(tmp_path):
    _nsd_table(tmp_path, [1, 2])
    with pytest.raises(DataError, match=r"NSD images file .*nope.hdf5 not found"):
        _extract(tmp_path, tmp_path / "nope.hdf5")
    with pytest.raises(DataError, match=r"stimulus row 'nsd-00001' has no file"):
        _extract(tmp_path, None)
    (tmp_path / "bad.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        _extract(tmp_path, tmp_path / "bad.hdf5")


def test_hdf5_images_extract_like_in_memory_pixels(tmp_path):
    brick = _tiny_brick(tmp_path, 4)
    _nsd_table(tmp_path, [4, 2, 3])
    store = FeatureStore.open([_extract(tmp_path, brick)])
    assert store.shape[0] == 3 and store.image_ids == ["nsd-00004", "nsd-00002", "nsd-00003"]
    from bergforge.features.extract import extract_array
    from bergforge.features.models import build_backbone
    from bergforge.features.registry import get_spec

    with h5py.File(brick, "r") as f:
        pixels = f["imgBrick"][:]
    for k, i in enumerate([4, 2, 3]):
        Image.fromarray(pixels[i - 1]).save(tmp_path / f"{k}.png")
    reference = extract_array(
        build_backbone(get_spec(BACKBONE)), [tmp_path / f"{k}.png" for k in range(3)], 8
    )
    np.testing.assert_allclose(store.read_rows(range(3)), reference, rtol=1e-4, atol=1e-4)
