"""The fMRI rules end to end on a tiny simulated NSD study with real Snakemake: GLMsingle, the
prepared stores, CNN8 training, its evaluation, the BERG export and the API on that export.

One module-scoped Snakemake run builds the whole CNN8 tree; the tests read what it made.
"""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
import zarr
from PIL import Image

from bergforge.api.berg import BERG
from bergforge.datasets.grayordinates import N_GRAYORDINATES, grayordinate_space
from bergforge.errors import InvalidParameterError
from bergforge.evaluation.fmri_metadata import NOISE_CEILING_KEYS
from bergforge.models.cnn8.mosaic_layout import to_mosaic
from bergforge.workflow.fmri import fmri_export_targets
from bergforge.workflow.models import evaluation_inputs, fit_inputs
from conftest import TINY_MEG, make_workdir, planned_jobs, run_snakemake

TINY_NSD = {
    "format": "nsd_bold",
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
CONFIG = {
    "datasets": {"tiny_meg": TINY_MEG, "tiny_nsd": TINY_NSD},
    "preprocess": {"glmsingle": {"n_pcs": 3}},
    "models": {
        "cnn8": {"width": 8, "input_size": 32, "lr": 0.003, "batch_size": 16, "max_epochs": 2}
    },
}
MODEL_ID = "fmri-mosaic-CNN8_multihead_subNSD_verticesAll"
MODEL = "CNN8_multihead"
MODEL_DIR = (
    "results/berg/encoding_models/modality-fmri/train_dataset-mosaic/"
    "model-CNN8_multihead_subNSD_verticesAll"
)
EVALUATION = "results/evaluation/tiny_nsd/CNN8_multihead/sub-{:02d}/evaluation.npz"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("fmri"), CONFIG)
    run_snakemake(workdir, "--cores", "2", *fmri_export_targets(CONFIG))
    return workdir


@pytest.fixture(scope="module")
def berg(workdir):
    return BERG(workdir / "results/berg")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(7).integers(0, 256, (6, 3, 40, 40), dtype=np.uint8)


@pytest.mark.workflow
def test_fmri_rules_build_prepared_stores_and_cnn8(workdir):
    target = "results/models/tiny_nsd/CNN8_multihead/training.json"
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
    # that a second run plans no job is checked by test_cnn8_device_is_a_runtime_setting's dry
    # run (the same targets, one runtime setting named in addition)


@pytest.mark.workflow
def test_evaluation_r_and_noise_ceilings(workdir):
    store = zarr.open_group(str(workdir / "results/prepared/tiny_nsd/sub-01.zarr"), mode="r")
    test = store["test"][:]
    with np.load(workdir / EVALUATION.format(1)) as f:
        ev = {k: f[k] for k in f.files}
    np.testing.assert_array_equal(ev["vertices"], store.attrs["vertices"])
    observed = test.mean(axis=1)
    for v in (0, 7, 19):
        expected = np.corrcoef(ev["test_predictions"][:, v], observed[:, v])[0, 1]
        assert ev["correlation"][v] == pytest.approx(expected, abs=1e-5)
    for key in NOISE_CEILING_KEYS:
        assert ev[key].shape == (N_GRAYORDINATES,)
    nc = ev["test_n-avg_noiseceiling"]
    assert np.isfinite(nc[ev["vertices"]]).all() and np.isnan(np.delete(nc, ev["vertices"])).all()
    np.testing.assert_allclose(nc[ev["vertices"]], ev["noise_ceiling"], rtol=1e-6)
    assert np.all(nc[ev["vertices"]] >= ev["test_n-1_noiseceiling"][ev["vertices"]])
    assert np.isfinite(ev["train_n-avg_noiseceiling"][ev["vertices"]]).all()
    assert np.isnan(ev["artificial_n-avg_noiseceiling"]).all()  # the demo has no artificial images
    with np.errstate(divide="ignore", invalid="ignore"):
        pnc = 100 * np.maximum(ev["correlation"], 0) ** 2 / (ev["noise_ceiling"] / 100)
    pnc[~np.isfinite(pnc)] = np.nan  # NC = 0: no ceiling to compare with
    np.testing.assert_allclose(ev["percent_noise_ceiling"], pnc, rtol=1e-5)


@pytest.mark.workflow
def test_cnn8_device_is_a_runtime_setting(workdir):
    # models.cnn8.device is read by the jobs when they run: naming it reruns no training, and the
    # logs (and training.json) record the device used. On a CPU host cpu is the only choice.
    from bergforge.logs import RUNTIME_PREFIX

    train_log = (workdir / "logs/models/tiny_nsd/CNN8_multihead/fit.log").read_text()
    fit_mem = sized_mem(workdir, "fit_cnn8", fit_inputs, {"dataset": "tiny_nsd", "model": MODEL})
    assert f"{RUNTIME_PREFIX} threads=2, mem_mb={fit_mem}, device=cpu" in train_log
    summary = json.loads(
        (workdir / "results/models/tiny_nsd/CNN8_multihead/training.json").read_text()
    )
    assert summary["config"]["device"] == "cpu"
    path = workdir / "config" / "config.yaml"
    original = path.read_text()
    cfg = yaml.safe_load(original)
    cfg["models"]["cnn8"]["device"] = "cpu"
    path.write_text(yaml.safe_dump(cfg))
    try:
        # nothing left to do after the build, and naming the device reruns nothing
        dry = run_snakemake(workdir, "-n", *fmri_export_targets(CONFIG))
        assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
        run_snakemake(workdir, "--cores", "1", "--force", EVALUATION.format(1))
    finally:
        path.write_text(original)
    evaluate_log = (workdir / "logs/evaluate/tiny_nsd/CNN8_multihead/sub-01.log").read_text()
    wildcards = {"dataset": "tiny_nsd", "model": MODEL, "subject": "01"}
    eval_mem = sized_mem(workdir, "evaluate_subject", evaluation_inputs, wildcards)
    assert f"{RUNTIME_PREFIX} threads=1, mem_mb={eval_mem}, device=cpu" in evaluate_log


def sized_mem(workdir, job: str, input_function, wildcards: dict) -> int:
    """The mem_mb bergforge.workflow.resources gives a job of this run, from its inputs on disk:
    the tiny jobs ask for far less than the same jobs of the real datasets."""
    from bergforge.config import load_config
    from bergforge.workflow.resources import declared_mem_mb, job_model, sized_mem_mb

    class Inputs(dict):
        __getattr__ = dict.__getitem__

    config = load_config(workdir / "config" / "config.yaml")
    w = SimpleNamespace(**wildcards)
    with contextlib.chdir(workdir):
        inputs = Inputs(input_function(config)(w))
        mem = sized_mem_mb(config, job)(w, inputs)
    real = job_model(config, job, w)
    assert mem < declared_mem_mb(real.peak_mb(real.real))
    return mem


@pytest.mark.workflow
def test_export_tree_metadata_and_card(workdir):
    root = workdir / MODEL_DIR
    weights = (
        root
        / "encoding_models_weights/model-CNN8_framework-multihead_subjects-NSD_vertices-all.pth"
    )
    trained = torch.load(workdir / "results/models/tiny_nsd/CNN8_multihead/model.pt")
    exported = torch.load(weights)  # MOSAIC's layout: a plain state dict, as mosaic loads it
    expected = to_mosaic(trained["state_dict"])
    assert exported.keys() == expected.keys()
    assert all(torch.equal(exported[k], v) for k, v in expected.items())
    space = grayordinate_space()
    for s in (1, 2):
        meta = np.load(root / f"metadata/NSD/sub-{s:02d}.npy", allow_pickle=True).item()
        assert {
            "vertex_mapping_all",
            "glasser_group_id",
            "roi",
            "subject_info",
            "stimuli",
            "noise_ceiling",
        } <= set(meta)
        assert set(meta["noise_ceiling"]) == set(NOISE_CEILING_KEYS)
        assert meta["bergforge"]["training"]["config"] == trained["config"]  # input size
        assert meta["vertex_mapping_all"].size == 20 and len(meta["roi"]) == 360
        np.testing.assert_array_equal(
            meta["glasser_group_id"], space.group[meta["vertex_mapping_all"]]
        )
        stim = meta["stimuli"]
        assert stim["train_idx"].size == 24 and stim["test_idx"].size == 8
        assert (stim["reps"] == 3).all() and meta["subject_info"][
            "participant_id"
        ] == f"sub-{s:02d}"
    card = yaml.safe_load((root / "model_card.yaml").read_text())
    assert card["model_id"] == MODEL_ID and card["data"]["subjects"] == [1, 2]
    assert set(card["parameters"]["selection"]["properties"]) == {
        "roi",
        "glasser_group",
        "voxel_index",
    }
    assert (root / "model_card.md").read_text().startswith(f"# {MODEL_ID}")


@pytest.mark.workflow
def test_group_plot_values_are_group_medians(workdir):
    root = workdir / MODEL_DIR
    meta = np.load(root / "metadata/NSD/sub-02.npy", allow_pickle=True).item()
    with np.load(workdir / EVALUATION.format(2)) as f:
        r, vertices = f["correlation"], f["vertices"]
    groups = grayordinate_space().group[vertices]  # independent of the metadata's group ids
    plot = root / "encoding_models_accuracy/encoding_accuracy_sub-02_glasser_groups.png"
    values = json.loads(Image.open(plot).text["bergforge:values"])
    expected = {str(g): float(np.median(r[groups == g])) for g in np.unique(groups)}
    assert set(values["median_r"]) == set(expected) == {"1", "4"}
    for g, v in expected.items():
        assert values["median_r"][g] == pytest.approx(v, abs=1e-6)
    surface = Image.open(root / "encoding_models_accuracy/encoding_accuracy_sub-02_surface.png")
    assert surface.size == (1400, 600)
    assert json.loads(surface.text["bergforge:values"])["n_vertices"] == 20
    assert np.nanmax(np.abs(meta["bergforge"]["correlation"])) <= 1


@pytest.mark.workflow
def test_api_roi_selection_is_slice_of_expanded_full_output(berg, images):
    assert MODEL_ID in berg.list_models() and berg.subjects(MODEL_ID) == [1, 2]
    full = berg.encode(berg.get_encoding_model(MODEL_ID, subject="all", device="cpu"), images)
    assert set(full) == {"NaturalScenesDataset"}
    full = full["NaturalScenesDataset"]
    assert {k: v.shape for k, v in full.items()} == {"sub-01": (6, 20), "sub-02": (6, 20)}
    space = grayordinate_space()
    rois = ["L_V1", "R_V1", "L_FFC"]
    idx = np.unique(np.concatenate([space.roi_indices(n) for n in rois]))
    model = berg.get_encoding_model(MODEL_ID, subject=[2, 1], selection={"roi": rois})
    selected = berg.encode(model, images)["NaturalScenesDataset"]
    for name, pred in full.items():
        meta = berg.get_model_metadata(MODEL_ID, int(name[-2:]))
        expanded = np.full((6, N_GRAYORDINATES), np.nan, dtype=np.float32)
        expanded[:, meta["vertex_mapping_all"]] = pred
        assert selected[name].shape == (6, idx.size)
        np.testing.assert_allclose(selected[name], expanded[:, idx], rtol=1e-5, atol=1e-6)
        assert np.isfinite(selected[name]).any()
    one = berg.encode(
        berg.get_encoding_model(MODEL_ID, subject=1, selection={"glasser_group": 4}), images
    )
    assert list(one["NaturalScenesDataset"]) == ["sub-01"]
    assert one["NaturalScenesDataset"]["sub-01"].shape == (6, space.group_indices(4).size)
    vec = np.zeros(20, dtype=int)
    vec[[0, 5]] = 1
    picked = berg.encode(
        berg.get_encoding_model(MODEL_ID, 2, selection={"voxel_index": vec}), images
    )
    np.testing.assert_allclose(
        picked["NaturalScenesDataset"]["sub-02"], full["sub-02"][:, [0, 5]], rtol=1e-5, atol=1e-6
    )


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subject": 9}, "invalid subject"),
        ({"subject": []}, "cannot be empty"),
        ({"subject": "every"}, "or 'all'"),
        ({"subject": 1, "selection": {"roi": ["V1"]}}, "invalid ROI"),
        ({"subject": 1, "selection": {"glasser_group": [2, 23]}}, "invalid Glasser group"),
        ({"subject": 1, "selection": {"voxel_index": np.ones(57_051)}}, "binary vector of 20"),
        ({"subject": 1, "selection": {"voxel_index": np.zeros(20)}}, "selects no vertex"),
        ({"subject": 1, "selection": {"sensors": ["MLO"]}}, "invalid selection key"),
        ({"subject": 1, "train_splits": "all"}, "MEG models only"),
    ],
)
def test_api_bad_inputs_get_clear_errors(berg, kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        berg.get_encoding_model(MODEL_ID, **kwargs)


@pytest.mark.workflow
def test_bad_fmri_config_is_one_clear_line(tmp_path):
    bad = {"format": "nsd_bold", "source": "simulated", "subjects": [1], "simulation": {"tr": 0}}
    workdir = make_workdir(tmp_path, {"datasets": {"tiny_meg": TINY_MEG, "x": bad}})
    proc = run_snakemake(workdir, "-n", check=False)
    assert proc.returncode != 0
    assert "datasets.x.simulation.tr" in proc.stdout + proc.stderr
    # the old section is refused with one line that says where its keys went
    (tmp_path / "old").mkdir()
    workdir = make_workdir(tmp_path / "old", {"datasets": {}, "fmri": {"datasets": {}}})
    proc = run_snakemake(workdir, "-n", check=False)
    assert proc.returncode != 0
    assert (
        "each entry of fmri.datasets is now a dataset under `datasets`" in proc.stdout + proc.stderr
    )


@pytest.mark.workflow
def test_adding_a_subject_to_the_simulated_study_reruns_that_dataset_only(workdir):
    """nsd_bold: the simulator writes the whole NSD-like study in one job, so a new subject
    re-simulates it and everything of that dataset follows; other datasets are untouched
    (docs/guide_formats_and_kinds.md, 'Adding a subject')."""
    import copy

    cfg = copy.deepcopy(CONFIG)
    cfg["datasets"]["tiny_nsd"]["subjects"] = [1, 2, 3]
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    try:
        jobs = planned_jobs(workdir, *fmri_export_targets(cfg))
    finally:
        (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    assert {wc.get("dataset") for _, wc in jobs} <= {"tiny_nsd", None}
    by_rule = {}
    for rule, wc in jobs:
        by_rule.setdefault(rule, []).append(wc.get("subject"))
    assert by_rule["fmri_simulate_study"] == [None]
    assert sorted(by_rule["fmri_glmsingle"]) == ["01", "02", "03"]
    assert sorted(by_rule["fmri_prepare_subject"]) == ["01", "02", "03"]
    assert sorted(by_rule["evaluate_subject"]) == ["01", "02", "03"]
    assert {"fmri_stimuli", "fit_cnn8", "fmri_export_weights", "fmri_model_card"} <= set(by_rule)
