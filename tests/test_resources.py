"""Resources from sizes (bergforge.workflow.resources): each heavy rule's mem_mb and runtime follow
from its inputs (file sizes, array shapes), inside the documented margin, with config overrides."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import zarr
from torch.utils.flop_counter import FlopCounterMode

from bergforge.models.cnn8.network import MultiHeadEncoder
from bergforge.models.cnn8.shapes import activation_floats, forward_flops, parameter_count
from bergforge.workflow import resources as res
from bergforge.workflow.resources import (
    COEFFICIENTS,
    JOBS,
    Size,
    declared_mem_mb,
    declared_runtime,
    sized_mem_mb,
    sized_runtime,
)

CONFIG = {
    "datasets": {
        "meg": {"format": "things_meg1", "source": "simulated", "subjects": [1]},
        "nsd": {"format": "nsd_mosaic", "source": "download", "subjects": [1, 2]},
    },
    "features": {"shard_size": 4},
}


class Inputs(dict):
    """Snakemake's ``input`` as the resource functions read it (names, attributes, ``get``)."""

    __getattr__ = dict.__getitem__


@pytest.mark.parametrize("peak", [0.0, 1.0, 500.0, 3000.0, 15999.0, 80000.0])
def test_declared_memory_lies_in_the_documented_margin(peak):
    declared = declared_mem_mb(peak)
    assert peak <= declared <= 1.5 * peak + 1024
    assert declared % 100 == 0
    assert declared == int(np.ceil((1.2 * peak + 512) / 100) * 100)


def test_declared_runtime_doubles_the_prediction_and_adds_ten_minutes():
    assert declared_runtime(0) == 10
    assert declared_runtime(90) == 13  # 2 × 1.5 min → 3, + 10
    assert declared_runtime(3600) == 130


def test_every_sized_rule_has_a_measured_row_for_its_fallback():
    for job, spec in JOBS.items():
        model = COEFFICIENTS[f"{job}/{spec.fallback}"]
        assert model.source and model.real.units >= 0, job


def test_fmri_prepare_memory_follows_the_betas_file_size(tmp_path):
    small, big = tmp_path / "small.npz", tmp_path / "big.npz"
    small.write_bytes(b"\0" * 10_000_000)
    big.write_bytes(b"\0" * 50_000_000)
    w = SimpleNamespace(dataset="nsd", subject="01")
    model = COEFFICIENTS["fmri_prepare_subject/fmri"]
    for path, mb in ((small, 10.0), (big, 50.0)):
        got = sized_mem_mb(CONFIG, "fmri_prepare_subject")(w, Inputs(betas=str(path)))
        assert got == declared_mem_mb(model.mem_base_mb + model.mem_mb_per_unit * mb)
        minutes = sized_runtime(CONFIG, "fmri_prepare_subject")(w, Inputs(betas=str(path)))
        assert minutes == declared_runtime(model.seconds_base + model.seconds_per_work * mb)


def test_missing_inputs_are_sized_as_the_real_dataset_while_planning(tmp_path):
    w = SimpleNamespace(dataset="nsd", subject="01")
    model = COEFFICIENTS["fmri_prepare_subject/fmri"]
    got = sized_mem_mb(CONFIG, "fmri_prepare_subject")(w, Inputs(betas=str(tmp_path / "none")))
    assert got == declared_mem_mb(model.peak_mb(model.real))


def test_config_memory_overrides_the_sized_value(tmp_path):
    (tmp_path / "stimuli.tsv").write_text("image_id\n" + "".join(f"i{k}\n" for k in range(10)))
    w = SimpleNamespace(dataset="meg", backbone="alexnet", shard="3", n_shards="3")
    inputs = Inputs(stimuli=str(tmp_path / "stimuli.tsv"))
    sized = sized_mem_mb(CONFIG, "extract_feature_shard", override="features/mem_mb")
    model = COEFFICIENTS["extract_feature_shard/cpu"]
    assert res.job_size(CONFIG, "extract_feature_shard", w, inputs).units == 2  # rows 8, 9
    assert sized(w, inputs) == declared_mem_mb(model.peak_mb(Size(2, 2)))
    overridden = CONFIG | {"features": {"shard_size": 4, "mem_mb": 7000}}
    assert sized_mem_mb(overridden, "extract_feature_shard", "features/mem_mb")(w, inputs) == 7000


def test_store_and_manifest_sizes_are_read_from_metadata(tmp_path):
    group = zarr.open_group(str(tmp_path / "sub-01.zarr"), mode="w", zarr_format=3)
    test = group.create_array("test", shape=(20, 3, 5, 7), chunks=(4, 3, 5, 7), dtype="float32")
    test[:8] = 1.0  # only 2 of 5 chunks stored
    assert res.array_mb(tmp_path / "sub-01.zarr", "test") == pytest.approx(20 * 3 * 35 * 4 / 1e6)
    stored = sum(p.stat().st_size for p in (tmp_path / "sub-01.zarr").rglob("*") if p.is_file())
    assert res.stored_mb(tmp_path / "sub-01.zarr") == pytest.approx(stored / 1e6)
    manifest = tmp_path / "features.json"
    manifest.write_text(json.dumps({"shape": [30, 1000], "dtype": "float16"}))
    assert res.feature_matrix(manifest) == (30, 1000, 2)


def test_meg_epochs_are_sized_with_their_split_parts(tmp_path):
    main = tmp_path / "preprocessed_P1-epo.fif"
    main.write_bytes(b"\0" * 3_000_000)
    (tmp_path / "preprocessed_P1-epo-1.fif").write_bytes(b"\0" * 2_000_000)
    (tmp_path / "preprocessed_P2-epo.fif").write_bytes(b"\0" * 9_000_000)  # another subject
    size = res.job_size(
        CONFIG, "preprocess_meg_subject_from_epochs", SimpleNamespace(), Inputs(epochs=str(main))
    )
    assert size.units == pytest.approx(5.0)


def test_eeg_memory_follows_the_largest_partition(tmp_path):
    for session, (train, test) in enumerate(((4, 1), (6, 2)), start=1):
        folder = tmp_path / f"ses-{session:02d}"
        folder.mkdir()
        (folder / "raw_eeg_training.npy").write_bytes(b"\0" * train * 10**6)
        (folder / "raw_eeg_test.npy").write_bytes(b"\0" * test * 10**6)
    size = res.job_size(
        CONFIG, "preprocess_eeg_subject", SimpleNamespace(), Inputs(raw=str(tmp_path))
    )
    assert (size.units, size.work) == (pytest.approx(6.0), pytest.approx(13.0))


def test_cnn8_shapes_match_the_network():
    """Parameters, FLOPs and saved activations of the analytic helpers against torch itself."""
    for width, side, vertices in ((16, 64, [100, 50]), (8, 32, [5000]), (24, 48, [300, 7])):
        model = MultiHeadEncoder({f"h{k}": v for k, v in enumerate(vertices)}, width, side)
        assert parameter_count(width, side, vertices) == sum(p.numel() for p in model.parameters())
        x = torch.randn(2, 3, side, side)
        with FlopCounterMode(display=False) as counter:
            model(x, "h0")
        assert forward_flops(width, side, vertices[0]) == pytest.approx(  # + the readout's
            counter.get_total_flops() / 2,
            rel=0.02,  # feature sum, which torch does not count
        )
        saved: dict = {}

        def pack(t, saved=saved):
            if t.dim() and t.shape[0] == 2:  # activations of the 2 images, once per storage
                saved[(t.untyped_storage().data_ptr(), t.shape)] = t.numel()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x, "h0").sum()
        assert activation_floats(width, side, vertices[0]) == pytest.approx(
            sum(saved.values()) / 2, rel=0.1
        )


def test_cnn8_on_a_gpu_keeps_activations_and_optimizer_off_the_host():
    settings = {"width": 384, "input_size": 224, "batch_size": 64, "max_epochs": 100}
    cpu = res.cnn8_size([57_051] * 8, 72_000, settings, "cpu")
    gpu = res.cnn8_size([57_051] * 8, 72_000, settings, "cuda")
    params_mb = parameter_count(384, 224, [57_051] * 8) * 4 / 1e6
    assert cpu.fixed_mb == pytest.approx(4 * params_mb) and gpu.fixed_mb == pytest.approx(params_mb)
    per_image = activation_floats(384, 224, 57_051) * 4 / 1e6
    assert cpu.units == pytest.approx(64 * per_image) and gpu.units == 0
    assert cpu.work == gpu.work == 72_000 * 100


def _write_run(folder, stem: str, left_mb: float, right_mb: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for hemi, mb in (("L", left_mb), ("R", right_mb)):
        (folder / f"{stem}_bold_space-fsnative.{hemi}.func.gii").write_bytes(b"\0" * int(mb * 1e6))


def test_bold5000_windows_are_sized_from_the_largest_run_and_all_runs(tmp_path):
    runs = tmp_path / "fmriprep" / "sub-CSI1"
    _write_run(runs / "ses-01" / "func", "sub-CSI1_ses-01_task-5000scenes_run-01", 2, 3)
    _write_run(runs / "ses-02" / "func", "sub-CSI1_ses-02_task-5000scenes_run-01", 4, 1.5)
    (runs / "ses-01" / "func" / "other.txt").write_bytes(b"\0" * 9_000_000)  # not a run
    w = SimpleNamespace(dataset="b5", subject="01")
    size = res.job_size(CONFIG, "bold5000_windows", w, Inputs(trials="t.tsv", runs=str(runs)))
    assert (size.units, size.work) == (pytest.approx(5.5), pytest.approx(10.5))
    # the download's manifest lists the same files with their bytes (and other files)
    rows = ["path\tbytes\tsha256"]
    for session, (left, right) in ((1, (2, 3)), (2, (4, 1.5))):
        stem = f"sub-CSI1_ses-{session:02d}_task-5000scenes_run-01_bold_space-fsnative"
        for hemi, mb in (("L", left), ("R", right)):
            rows.append(f"derivatives/fmriprep/sub-CSI1/{stem}.{hemi}.func.gii\t{int(mb * 1e6)}\tx")
    rows.append("derivatives/freesurfer/sub-CSI1/surf/lh.sphere.reg\t7000000\tx")
    manifest = tmp_path / "sub-CSI1.tsv"
    manifest.write_text("\n".join(rows) + "\n")
    inputs = Inputs(trials="t.tsv", manifest=str(manifest))
    size = res.job_size(CONFIG, "bold5000_windows", w, inputs)
    assert (size.units, size.work) == (pytest.approx(5.5), pytest.approx(10.5))
    model = COEFFICIENTS["bold5000_windows/fmri"]
    expected = declared_mem_mb(model.mem_base_mb + model.mem_mb_per_unit * 5.5)
    assert sized_mem_mb(CONFIG, "bold5000_windows")(w, inputs) == expected
    # while planning (no manifest yet) the real subject's size
    missing = Inputs(trials="t.tsv", manifest=str(tmp_path / "none.tsv"))
    planned = sized_mem_mb(CONFIG, "bold5000_windows")(w, missing)
    assert planned == declared_mem_mb(model.peak_mb(model.real))


# ------------------------------------------------------------------------ free viewing

AVS_COLUMNS = {
    "scene": "nsd_id",
    "trial": "trial",
    "fixation": "fix",
    "onset": "t",
    "duration": "dur",
    "x": "fx",
    "y": "fy",
    "next_x": "nx",
    "next_y": "ny",
    "session": "session",
}


def _avs_config(root, device: str = "auto") -> dict:
    """A local avs_fixations dataset under ``root`` (the sizing functions' view of it)."""
    return {
        "datasets": {
            "avs": {
                "format": "avs_fixations",
                "source": "local",
                "path": str(root),
                "subjects": [1, 2, 3],
                "free_viewing": {
                    "heldout": [3],
                    "backbones": {"alexnet_untrained": "features.12"},
                    "kinds": {"ridge_cv": {}, "shared": {"device": device}},
                    "table": {
                        "columns": AVS_COLUMNS,
                        "time_unit": "s",
                        "position_unit": "pixels",
                        "scene_size_px": [8, 8],
                        "screen": {"pixels_per_degree": 2.0},
                    },
                },
            }
        },
        "backbones": {"alexnet_untrained": {}},
    }


def test_fixation_features_are_sized_from_the_scenes_shown(tmp_path):
    import h5py

    table = tmp_path / "sub-01" / "sub-01_fixations.tsv"
    table.parent.mkdir()
    # 5 fixations on 2 distinct scenes (scene 4 twice), 3 of them with a next target
    rows = [(4, 1, 1, 2.0), (4, 1, 2, 3.0), (4, 1, 3, None), (9, 2, 1, 5.0), (9, 2, 2, None)]
    lines = ["\t".join(AVS_COLUMNS.values())]
    for scene, trial, fix, nx in rows:
        nxt = "" if nx is None else str(nx)
        lines.append(f"{scene}\t{trial}\t{fix}\t{fix}\t0.2\t1\t1\t{nxt}\t{nxt}\t1")
    table.write_text("\n".join(lines) + "\n")
    with h5py.File(tmp_path / "nsd_stimuli.hdf5", "w") as f:  # 12 scenes of 10 × 10 × 3
        f.create_dataset("imgBrick", shape=(12, 10, 10, 3), dtype="uint8")
    config = _avs_config(tmp_path)
    for route in ("gaze", "crops"):
        w = SimpleNamespace(dataset="avs", subject="01", route=route, backbone="alexnet_untrained")
        size = res.job_size(config, "fixation_features", w, Inputs())
        # 2 distinct scenes of 300 bytes (not 5 fixations' or the brick's 12); the crop route's
        # crops are made a chunk at a time (a fixed amount, in the row's base)
        assert size.units == pytest.approx(2 * 300 / 1e6)
        assert size.work == 5


def test_fixation_models_pick_the_shared_kind_gpu_row_from_its_device(tmp_path):
    for device, kind, row in (
        ("cuda", "shared", "shared_cuda"),
        ("auto", "shared", "shared"),
        ("cuda", "ridge_cv", "ridge_cv"),
    ):
        w = SimpleNamespace(dataset="avs", kind=kind)
        model = res.job_model(_avs_config(tmp_path, device), "fit_fixation_model", w)
        assert model is COEFFICIENTS[f"fit_fixation_model/{row}"]
