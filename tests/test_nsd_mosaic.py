"""NSD through MOSAIC: ``config/nsd_mosaic.yaml`` against miniature copies on 127.0.0.1.

One Snakemake run (the reference config + an override: loopback URLs, 2 subjects, V1 only, a tiny
CNN8) downloads NSD's imgBrick and MOSAIC's stiminfo and subject files, turns each subject file
into the betas file GLMsingle writes for simulated studies, and builds the exported BERG model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from httpserver import LoopbackServer
from mini_sources import NSD_OWN, NSD_REPS, NSD_SHARED, base_urls, write_nsd_mosaic_sources

from bergforge.datasets.grayordinates import grayordinate_space
from bergforge.datasets.sources import MOSAIC_BETAS
from bergforge.errors import ConfigError, DataError
from bergforge.preprocess.mosaic_betas import MosaicLayout, mosaic_betas_job
from conftest import REPO, make_workdir, planned_jobs, run_snakemake

MODEL_ID = "fmri-mosaic-CNN8_multihead_subNSD_verticesAll"
SUBJECTS = [1, 2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("nsd_served")
    truth = write_nsd_mosaic_sources(root, SUBJECTS)
    with LoopbackServer(root) as server:
        yield server, root, truth


@pytest.fixture(scope="module")
def nsd_run(served, tmp_path_factory):
    """``--configfile config/nsd_mosaic.yaml`` + an override: loopback URLs, 2 subjects, tiny."""
    server, _, _ = served
    workdir = make_workdir(tmp_path_factory.mktemp("nsd_mosaic"), {"datasets": {}})
    shutil.copy2(REPO / "config" / "nsd_mosaic.yaml", workdir / "config" / "nsd_mosaic.yaml")
    override = {
        "datasets": {
            "nsd": {
                "subjects": SUBJECTS,
                "download": {"base_urls": base_urls(server.url), "backoff": 0.01},
                "mosaic": {"groups": [1]},
            }
        },
        "models": {
            "cnn8": {
                "width": 8,
                "input_size": 32,
                "batch_size": 16,
                "max_epochs": 2,
                "device": "cpu",
            },
        },
    }
    (workdir / "config" / "test_override.yaml").write_text(yaml.safe_dump(override))
    run_snakemake(
        workdir, "-c2", "--configfile", "config/nsd_mosaic.yaml", "config/test_override.yaml"
    )
    return workdir


@pytest.mark.workflow
def test_downloads_arrive_verified_and_locked(served, nsd_run):
    _, root, _ = served
    raw = nsd_run / "resources/raw/nsd"
    pairs = {
        "nsd_stimuli.hdf5": root / "nsd/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5",
        "nsd_stiminfo.tsv": root / "mosaic/stimulus_info/nsd_stiminfo.tsv",
        **{
            f"betas/sub-{s:02d}_NSD.hdf5": root / "mosaic" / MOSAIC_BETAS / f"sub-{s:02d}_NSD.hdf5"
            for s in SUBJECTS
        },
    }
    for local, remote in pairs.items():
        assert (raw / local).read_bytes() == remote.read_bytes(), local
    lock = json.loads((nsd_run / "resources/checksums/mosaic.json").read_text())
    digest = hashlib.sha256(pairs["nsd_stiminfo.tsv"].read_bytes()).hexdigest()
    assert lock["stimulus_info/nsd_stiminfo.tsv"] == digest
    assert not (raw / "nsd_expdesign.mat").exists(), "the MOSAIC route does not need it"
    assert not list(nsd_run.rglob("*.part"))


@pytest.mark.workflow
def test_betas_file_matches_the_mosaic_trials(served, nsd_run):
    _, _, truth = served
    table, written = truth["table"], truth["betas"][2]
    v1 = grayordinate_space().model_space((1,))
    with np.load(nsd_run / "results/fmri/nsd/betas/sub-02.npz") as f:  # plain numpy reads it
        betas = f["betas_by_trial"].T  # (vertex, trial)
        ids, shared = f["trial_image_73k_id"], f["trial_shared"]
        np.testing.assert_array_equal(f["grayordinates"], v1)
        reps = f["trial_repetition"]
    # independent reference: every COCO trial of the subject file, by name
    coco = table[(table.source == "COCO") & (table["sub-02_reps"] > 0)]
    assert betas.shape == (v1.size, int(coco["sub-02_reps"].sum()))
    assert shared.sum() == NSD_SHARED * NSD_REPS
    by_id = coco.set_index(coco.alias + 1)
    for k in range(betas.shape[1]):
        stem = Path(by_id.loc[ids[k], "filename"]).stem
        split = by_id.loc[ids[k], "test_train"]
        name = f"sub-02_NSD_stimulus-{stem}_phase-{split}_rep-{reps[k]}"
        np.testing.assert_array_equal(betas[:, k], written[name][v1])
        assert shared[k] == (split == "test")
    assert np.isfinite(betas).all()


@pytest.mark.workflow
def test_stimuli_and_prepared_store_follow_the_stiminfo_split(served, nsd_run):
    _, _, truth = served
    table = truth["table"]
    stimuli = pd.read_csv(nsd_run / "results/prepared/nsd/stimuli.tsv", sep="\t")
    coco = table[table.source == "COCO"]
    want = {
        split: sorted(coco.loc[coco.test_train == split, "alias"] + 1)
        for split in ("train", "test")
    }
    for split, ids in want.items():
        assert sorted(stimuli.loc[stimuli.split == split, "image_73k_id"]) == ids
    assert len(want["train"]) == NSD_OWN * len(SUBJECTS)
    group = zarr.open_group(str(nsd_run / "results/prepared/nsd/sub-01.zarr"), mode="r")
    v1 = grayordinate_space().model_space((1,)).size
    assert group["test"].shape == (NSD_SHARED, NSD_REPS, v1)
    train = group["train"][:]
    seen = ~np.isnan(train).all(axis=(1, 2))
    assert seen.sum() == NSD_OWN, "sub-01 saw its own training images only"
    # the last own image was shown twice: its third repetition is missing
    assert np.isnan(train[seen][:, 2]).all(axis=1).sum() == 1


@pytest.mark.workflow
def test_nsd_mosaic_config_builds_the_exported_model(nsd_run):
    from bergforge.api.berg import BERG

    berg = BERG(nsd_run / "results" / "berg")
    assert MODEL_ID in berg.list_models() and berg.subjects(MODEL_ID) == SUBJECTS
    model = berg.get_encoding_model(MODEL_ID, subject="all", device="cpu")
    images = np.random.default_rng(0).integers(0, 256, (3, 3, 40, 40), dtype=np.uint8)
    out = berg.encode(model, images)["NaturalScenesDataset"]
    v1 = grayordinate_space().model_space((1,)).size
    assert {k: v.shape for k, v in out.items()} == {"sub-01": (3, v1), "sub-02": (3, v1)}
    assert all(np.isfinite(v).all() and v.std() > 0 for v in out.values())
    summary = json.loads((nsd_run / "results/models/nsd/CNN8_multihead/training.json").read_text())
    assert summary["epochs"] == 2 and set(summary["test_median_r"]) == {"sub-01_NSD", "sub-02_NSD"}


# ------------------------------------------------------------------------------ clear errors


def test_file_without_betas_group_or_with_unknown_stimulus_is_refused(tmp_path):
    write_nsd_mosaic_sources(tmp_path, [1])
    betas = tmp_path / "mosaic" / MOSAIC_BETAS / "sub-01_NSD.hdf5"
    stiminfo = tmp_path / "mosaic/stimulus_info/nsd_stiminfo.tsv"
    out = tmp_path / "out" / "sub-01.npz"
    # a stimulus the stiminfo table does not list
    table = pd.read_csv(stiminfo, sep="\t")
    dropped = Path(table.loc[0, "filename"]).stem
    table.iloc[1:].to_csv(tmp_path / "short.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match=rf"names stimulus '{dropped}', which is not in the"):
        mosaic_betas_job(betas, tmp_path / "short.tsv", 1, {"groups": [1]}, out)
    # a file without the group `betas`
    with h5py.File(betas, "r+") as f:
        f.move("betas", "responses")
    with pytest.raises(DataError, match="expected a group 'betas'"):
        mosaic_betas_job(betas, stiminfo, 1, {"groups": [1]}, out)
    # a stiminfo without the configured id column
    with pytest.raises(DataError, match=r"missing column\(s\) \['nsd_id'\]"):
        mosaic_betas_job(betas, stiminfo, 1, {"id_column": "nsd_id"}, out)
    assert not out.parent.exists() or not list(out.parent.iterdir()), "nothing half-written"


def test_nsd_mosaic_config_validates_and_fmri_download_keys_are_checked():
    from bergforge.config import load_config, validate_config
    from bergforge.datasets.formats import check_datasets

    config = load_config(REPO / "config" / "nsd_mosaic.yaml")
    nsd = config["datasets"]["nsd"]
    assert nsd["format"] == "nsd_mosaic" and nsd["source"] == "download"
    assert nsd["subjects"] == list(range(1, 9))
    cnn8 = config["models"]["cnn8"]
    assert cnn8["width"] == 384 and cnn8["input_size"] == 224
    simulated = {
        "format": "nsd_bold",
        "source": "simulated",
        "subjects": [1],
        "simulation": {"seed": 1},
        "mosaic": {"groups": [1]},
    }
    with pytest.raises(ConfigError, match="mosaic is only allowed with nsd_mosaic"):
        check_datasets(validate_config({"datasets": {"x": simulated}}))
    download = {
        "format": "nsd_mosaic",
        "source": "download",
        "subjects": [1],
        "simulation": {"seed": 1},
    }
    with pytest.raises(ConfigError, match="simulation is only allowed with source 'simulated'"):
        validate_config({"datasets": {"x": download}})
    with pytest.raises(ConfigError, match="no datasets"):
        validate_config({"datasets": {}})
    wrong_source = {
        "format": "nsd_mosaic",
        "source": "simulated",
        "subjects": [1],
        "simulation": {"seed": 1},
    }
    with pytest.raises(ConfigError, match="format 'nsd_mosaic' with source 'simulated'"):
        check_datasets(validate_config({"datasets": {"x": wrong_source}}))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['colum'\]"):
        MosaicLayout.from_config({"colum": "x"})
    with pytest.raises(ConfigError, match="named groups 'stimulus' and 'rep'"):
        MosaicLayout.from_config({"name_pattern": "^(?P<stimulus>.+)$"})


@pytest.mark.workflow
def test_adding_a_subject_reruns_what_pools_the_stimulus_table(nsd_run):
    """nsd_mosaic: the new subject's betas are fetched and converted alone; the pooled stimulus
    table is rewritten, so every prepared store, the cnn8 model and its evaluations and exports
    follow (docs/guide_formats_and_kinds.md, 'Adding a subject')."""
    override = yaml.safe_load((nsd_run / "config" / "test_override.yaml").read_text())
    override["datasets"]["nsd"]["subjects"] = [*SUBJECTS, 3]
    extra = nsd_run / "config" / "add_subject.yaml"
    extra.write_text(yaml.safe_dump(override))
    jobs = planned_jobs(
        nsd_run, "--configfile", "config/nsd_mosaic.yaml", "config/add_subject.yaml"
    )
    rules = {r for r, _ in jobs}
    assert [wc["path"] for r, wc in jobs if r == "download_file"] == ["betas/sub-03_NSD.hdf5"]
    assert [wc["subject"] for r, wc in jobs if r == "fmri_mosaic_betas"] == ["03"]
    assert sorted(wc["subject"] for r, wc in jobs if r == "fmri_prepare_subject") == [
        "01",
        "02",
        "03",
    ]
    assert {"fmri_stimuli", "fit_cnn8", "fmri_export_weights", "fmri_model_card"} <= rules
    assert sorted(wc["subject"] for r, wc in jobs if r == "evaluate_subject") == ["01", "02", "03"]
