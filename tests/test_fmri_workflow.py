"""The fMRI rules end to end on a tiny simulated NSD study with real Snakemake."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from conftest import TINY_MEG, make_workdir, run_snakemake

TINY_FMRI = {
    "datasets": {
        "tiny_nsd": {
            "source": "simulated",
            "subjects": [1, 2],
            "simulation": {
                "seed": 4,
                "groups": [1, 4],
                "vertices_per_group": 10,
                "n_shared_images": 8,
                "n_subject_images": 24,
                "runs_per_session": 2,
                "image_size": 32,
            },
        }
    },
    "glmsingle": {"n_pcs": 3},
    "cnn8": {"width": 8, "input_size": 32, "lr": 0.003, "batch_size": 16, "max_epochs": 2},
}


@pytest.mark.workflow
def test_fmri_rules_build_prepared_stores_and_cnn8(tmp_path):
    workdir = make_workdir(tmp_path, {"datasets": {"tiny_meg": TINY_MEG}, "fmri": TINY_FMRI})
    target = "results/models/tiny_nsd/CNN8_multihead/training.json"
    run_snakemake(workdir, "--cores", "2", target)
    summary = json.loads((workdir / target).read_text())
    assert summary["epochs"] == 2 and set(summary["test_median_r"]) == {"sub-01_NSD", "sub-02_NSD"}
    assert (workdir / "results/models/tiny_nsd/CNN8_multihead/model.pt").is_file()
    assert not (workdir / "results/models/tiny_nsd/CNN8_multihead/checkpoint.pt").exists()
    group = zarr.open_group(str(workdir / "results/prepared/tiny_nsd/sub-02.zarr"), mode="r")
    assert group["train"].shape == (48, 3, 20) and group["test"].shape == (8, 3, 20)
    assert group.attrs["modality"] == "fmri" and len(group.attrs["vertices"]) == 20
    assert not np.isnan(group["test"][:]).any()
    glm = workdir / "results/fmri/tiny_nsd/glmsingle/sub-01/TYPED_FITHRF_GLMDENOISE_RR.npz"
    with np.load(glm) as f:
        assert f["betasmd"].shape[0] == 20
    # nothing left to do: a second run plans no job
    dry = run_snakemake(workdir, "-n", target)
    assert "Nothing to be done" in dry.stdout + dry.stderr


@pytest.mark.workflow
def test_bad_fmri_config_is_one_clear_line(tmp_path):
    bad = {"datasets": {"x": {"source": "simulated", "subjects": [9]}}}
    workdir = make_workdir(tmp_path, {"datasets": {"tiny_meg": TINY_MEG}, "fmri": bad})
    proc = run_snakemake(workdir, "-n", check=False)
    assert proc.returncode != 0
    assert "fmri.datasets.x.subjects" in proc.stdout + proc.stderr
