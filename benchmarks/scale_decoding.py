"""Scale-harness cases of the BOLD5000 decoding route (``config/bold5000.yaml``, CPU).

- ``bold5000_windows``: CSI1's job (142 runs at full size). One pair of fsnative ``func.gii``
  files of the real shape (163,842 vertices per hemisphere: fsaverage's icosahedron of order 7,
  more than ds001499's subjects have; 194 TRs of float32, written by bergforge's GIFTI writer) is
  written once per case and linked as every run of the point, beside ``sphere.reg`` files of the
  same mesh (turned by a few degrees) and ``trials.tsv`` rows of the design's first runs; the job
  projects, cleans and windows every run as the rule does. One run is in memory at a time, so the
  peak does not grow with the runs (units = the largest run's two files) and the time does.
- ``fit_ridge_decoder``, ``fit_fmri_mlp``, ``fit_fmri_linear``, ``evaluate_decoder``: CSI1–CSI4's
  trial-indexed stores ``[trial, 20,484, 4]`` (random float32 windows) of the first ``fraction``
  of each subject's runs of BOLD5000's design (:mod:`bergforge.simulate.bold5000_design`), split
  as the task splits them (test = the repeated images, validation = 20 % of the training runs,
  seed 33), the stimulus table of their images and DINOv2-giant-sized targets (1,536 random values
  per image). Written once per fraction and shared by the four cases (cache group
  ``decoders-bold5000``); the evaluation reads the ``ridge_decoder`` the fit case left (the larger
  model folder: its PCA). ``fmri_mlp`` and ``fmri_linear`` train 2 epochs per point; their time is
  projected to the default 40 epochs, as the trained kinds' cases do (:mod:`scale_trained`).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scale_cases import Case, harness_device, merged_config, real_config, workflow_size
from scale_inputs import random_trial_store
from scale_trained import projection, timed_loops

from bergforge.workflow.resources import Size

DATASET, BACKBONE = "bold5000", "dinov2_giant"
SUBJECTS = (1, 2, 3, 4)
N_RUNS = {1: 142, 2: 142, 3: 142, 4: 84}  # task-5000scenes runs of CSI1–CSI4
TRIALS_PER_RUN, N_VOLUMES, TR = 37, 194, 2.0
ICO_ORDER = 7  # 163,842 vertices per hemisphere
FSAVERAGE5, N_TRS, DIMS = 20_484, 4, 1_536
N_IMAGES = 4_916  # BOLD5000's stimulus images (every trial's image is one of them)
TRIAL_MB = FSAVERAGE5 * N_TRS * 4 / 1e6
MODELS = {
    "ridge_decoder": f"ridge_decoder-{BACKBONE}",
    "fmri_mlp": f"fmri_mlp-{BACKBONE}_seed33",
    "fmri_linear": f"fmri_linear-{BACKBONE}_seed33",
}
REAL_EPOCHS = 40  # fmri_mlp's default max_epochs: the real job's worst case (no early stop)
RUN_EPOCHS = {"max_epochs": 2, "patience": 2}
GROUP = "decoders-bold5000"
#: the real job's PCA solver at every fraction (auto's choice above 2,048 training trials)
RANDOMIZED = {"pca": {"solver": "randomized"}}
#: two points each (≈ 1,200 and 2,400 trials): the PCA of ridge_decoder needs more training
#: trials than its 500 components, so 1/32 is too small
DECODER_FRACTIONS = (1 / 16, 1 / 8)


# ------------------------------------------------------------------------------ windows


def icosphere(order: int, radius: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates, faces) of the icosahedron subdivided ``order`` times, on a sphere of
    ``radius`` (FreeSurfer's spheres have radius 100): 10 · 4^order + 2 vertices."""
    t = (1 + math.sqrt(5)) / 2
    v = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
         [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=np.float64,
    )  # fmt: skip
    f = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]],
        dtype=np.int64,
    )  # fmt: skip
    for _ in range(order):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        ab, bc, ca = len(v) + inverse.reshape(3, -1)
        v = np.vstack([v, (v[unique[:, 0]] + v[unique[:, 1]]) / 2])
        a, b, c = f.T
        f = np.concatenate(
            [np.stack(s, axis=1) for s in ((a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca))]
        )
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return radius * v, f


def _turned(coords: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    c, s = math.cos(angle), math.sin(angle)
    return coords @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _run_files(cache: Path) -> dict[str, Path]:
    """One run's two fsnative ``func.gii`` files and the two ``sphere.reg`` files (written once
    per case into ``cache``)."""
    import nibabel.freesurfer as fs

    from bergforge.preprocess.surface_runs import write_func_gii

    files = {h: cache / f"run.{h}.func.gii" for h in ("L", "R")}
    files |= {h: cache / f"{h}.sphere.reg" for h in ("lh", "rh")}
    if all(p.exists() for p in files.values()):
        return files
    cache.mkdir(parents=True, exist_ok=True)
    coords, faces = icosphere(ICO_ORDER)
    rng = np.random.default_rng(0)
    for k, (hemi, sphere) in enumerate((("L", "lh"), ("R", "rh"))):
        fs.write_geometry(str(files[sphere]), _turned(coords, 3.0 + k), faces.astype(np.int32))
        data = rng.standard_normal((len(coords), N_VOLUMES), dtype=np.float32) + 100.0
        write_func_gii(files[hemi], data, TR)
    return files


def _runs(subject: int, fraction: float) -> list[tuple[int, int]]:
    from bergforge.datasets import bold5000 as b5

    runs = b5.runs_of(subject)
    return runs[: max(2, round(len(runs) * fraction))]


def _events_table(subjects: dict[int, list[tuple[int, int]]]) -> pd.DataFrame:
    """``trials.tsv`` rows of the runs (BOLD5000's design: :mod:`bergforge.simulate.bold5000_design`),
    with the task's split."""
    from bergforge.preprocess.bold5000_jobs import SPLIT_SEED, VALIDATION_FRACTION
    from bergforge.preprocess.decoding_split import decoding_split
    from bergforge.simulate.bold5000_design import repeated_images, subject_events

    rows = []
    for subject, runs in sorted(subjects.items()):
        events = subject_events(subject)
        for session, run in runs:
            e = events[(session, run)]
            rows.append(
                pd.DataFrame(
                    {
                        "subject": subject,
                        "session": session,
                        "run": run,
                        "trial": e["Trial"].to_numpy(np.int64),
                        "image": e["stim_file"].to_numpy(str),
                        "img_type": e["ImgType"].to_numpy(str),
                        "onset": e["onset"].to_numpy(np.float64),
                        "duration": e["duration"].to_numpy(np.float64),
                        "file": [f"images/{n}" for n in e["stim_file"]],
                    }
                )
            )
    table = pd.concat(rows, ignore_index=True)
    repeated = {name for _, name in repeated_images()}
    table["split"] = decoding_split(table, repeated, VALIDATION_FRACTION, SPLIT_SEED)
    return table


def _windows_prepare(point: Path, fraction: float, cache: Path) -> dict:
    from bergforge.datasets import bold5000 as b5
    from bergforge.preprocess.study_trials import write_study_trials

    files = _run_files(cache)
    raw = point / "raw"
    runs = _runs(1, fraction)
    for session, run in runs:
        for hemi in ("L", "R"):
            link = b5.surface_run_path(raw, 1, session, run, hemi)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(files[hemi], link)
    surf = b5.freesurfer_surf(raw, 1)
    surf.mkdir(parents=True, exist_ok=True)
    for hemi in ("lh", "rh"):
        os.symlink(files[hemi], surf / f"{hemi}.sphere.reg")
    trials = point / "trials.tsv"
    write_study_trials(_events_table({1: runs}), trials)
    return {
        "trials": str(trials),
        "raw": str(raw),
        "runs": str(raw / "derivatives" / "fmriprep" / "sub-CSI1"),
        "out": str(point / "out" / "sub-01.zarr"),
    }


def _windows_run(job: dict) -> None:
    from bergforge.preprocess.bold5000_jobs import prepare_windows_job

    prepare_windows_job(
        job["trials"],
        job["raw"],
        1,
        job["out"],
        dataset=DATASET,
        preprocess=real_config(DATASET)["datasets"][DATASET].get("preprocess"),
    )


def _windows_size(job: dict) -> Size:
    inputs = {"trials": job["trials"], "runs": job["runs"]}
    return workflow_size("bold5000_windows", DATASET, {"subject": "01"}, inputs)


def _pair_mb() -> float:
    """MB of one run's two files as the harness writes them (for the disk estimate)."""
    return 2 * 163_842 * N_VOLUMES * 4 * 4 / 3 / 1e6  # float32 as base64, at most


# ------------------------------------------------------------------------------ decoders


def _write_features(folder: Path, image_ids: list[str]) -> Path:
    """One sealed feature shard of ``DIMS`` random values per image and its ``features.json``."""
    import zarr

    from bergforge.store_checksums import seal_store

    folder.mkdir(parents=True, exist_ok=True)
    name = "shard-1-of-1.zarr"
    group = zarr.open_group(str(folder / name), mode="w", zarr_format=3)
    spec = {"layers": ["blocks.25"], "token_aggregation": "mean", "image_size": 224}
    group.attrs.update(
        {
            "layers": ["blocks.25"],
            "layer_sizes": [DIMS],
            "rows": [0, len(image_ids)],
            "shard": [1, 1],
            "image_ids": image_ids,
            "backbone": BACKBONE,
            "dtype": "float32",
            "spec": spec,
        }
    )
    array = group.create_array(
        "blocks.25",
        shape=(len(image_ids), DIMS),
        chunks=(256, DIMS),
        dtype="float32",
        fill_value=0,
    )
    array[:] = np.random.default_rng(1).standard_normal((len(image_ids), DIMS), dtype=np.float32)
    seal_store(folder / name)
    manifest = folder / "features.json"
    manifest.write_text(
        json.dumps(
            {
                "backbone": BACKBONE,
                "shape": [len(image_ids), DIMS],
                "layers": ["blocks.25"],
                "layer_sizes": [DIMS],
                "dtype": "float32",
                "spec": spec,
                "shards": [name],
            }
        )
    )
    return manifest


def _write_store(path: Path, table: pd.DataFrame, subject: int) -> None:
    """A subject's trial-indexed store of random windows ``[trial, 20,484, 4]``."""
    random_trial_store(
        path,
        table,
        subject,
        {"vertex": list(range(FSAVERAGE5)), "tr": list(range(N_TRS))},
        modality="fmri",
        dataset=DATASET,
        sampling_period=TR,
        preprocessing={"scale_harness": "random windows"},
    )


def decoder_inputs(fraction: float, cache: Path) -> dict:
    """The stores, stimuli.tsv and features at ``fraction`` (written once per fraction into the
    cache group, shared by the decoder cases)."""
    from bergforge.preprocess.stimuli import write_stimuli_table
    from bergforge.preprocess.study_trials import stimulus_rows

    folder = cache.parent / GROUP / f"inputs-{fraction:.6g}"
    done = folder / "data.json"
    if done.exists():
        return json.loads(done.read_text())
    table = _events_table({s: _runs(s, fraction) for s in SUBJECTS})
    prepared = folder / "prepared" / DATASET
    prepared.mkdir(parents=True, exist_ok=True)
    stimuli = stimulus_rows(table)
    write_stimuli_table(stimuli, prepared / "stimuli.tsv")
    stores = []
    for s in SUBJECTS:
        store = prepared / f"sub-{s:02d}.zarr"
        _write_store(store, table[table["subject"] == s], s)
        stores.append(str(store))
    features = _write_features(folder / "features" / DATASET / BACKBONE, list(stimuli.image_id))
    data = {
        "stores": stores,
        "stimuli": str(prepared / "stimuli.tsv"),
        "features": str(features),
        "trials": len(table),
    }
    done.write_text(json.dumps(data))
    return data


def _overrides(capped: bool) -> dict:
    settings = {"device": harness_device() if capped else "cpu"}
    mlp = {**settings, **(RUN_EPOCHS if capped else {})}
    return {"models": {"fmri_mlp": mlp, "fmri_linear": mlp, "ridge_decoder": RANDOMIZED}}


def _model_dir(kind: str, fraction: float, cache: Path) -> Path:
    return cache.parent / GROUP / f"models-{fraction:.6g}" / MODELS[kind]


def _decoder_prepare(kind: str):
    def prepare(point: Path, fraction: float, cache: Path) -> dict:
        data = decoder_inputs(fraction, cache)
        out = _model_dir(kind, fraction, cache) if kind == "ridge_decoder" else point / "out"
        job = data | {"out": str(out)}
        return job | {"work": _fit_size(kind)(job).work}

    return prepare


def _fit_inputs(job: dict) -> dict:
    return {"prepared": job["stores"], "stimuli": job["stimuli"], "features": job["features"]}


def _fit_size(kind: str):
    def size(job: dict) -> Size:
        w = {"model": MODELS[kind]}
        return workflow_size(f"fit_{kind}", DATASET, w, _fit_inputs(job), _overrides(False))

    return size


def fit_decoder(config: dict, dataset: str, kind: str, model: str, job: dict, device: str) -> float:
    """The job of rule ``fit_{kind}`` of ``dataset`` on a point's inputs (``stores``,
    ``stimuli``, ``features``, ``out``) with ``config``, on 2 threads; its wall time."""
    from bergforge.models.registry import get_kind
    from bergforge.workflow.jobs import fit_job
    from bergforge.workflow.models import fit_params

    w = {"dataset": dataset, "model": model, "split": "all"}
    settings = fit_params(config, get_kind(kind, config))["settings"](SimpleNamespace(**w))
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    fit_job(
        config,
        w,
        prepared=[Path(p) for p in job["stores"]],
        stimuli=Path(job["stimuli"]),
        features=job["features"],
        images=None,
        settings=settings,
        marker=out / "model.json",
        runtime={"threads": 2, "device": device},
    )
    return time.perf_counter() - began


def fit(kind: str, job: dict, capped: bool = True) -> float:
    """The job of rule ``fit_{kind}`` on the point's BOLD5000 inputs; its wall time."""
    config = merged_config(DATASET, _overrides(capped))
    return fit_decoder(config, DATASET, kind, MODELS[kind], job, harness_device())


def _trained_run(kind: str):
    def run(job: dict) -> dict:
        import bergforge.models.decoding.train as train

        with timed_loops("decoder_loop", train) as loops:
            seconds = fit(kind, job)
        return projection(job, seconds, loops, REAL_EPOCHS)

    return run


def _evaluate_prepare(point: Path, fraction: float, cache: Path) -> dict:
    data = decoder_inputs(fraction, cache)
    model = _model_dir("ridge_decoder", fraction, cache)
    if not (model / "checksums.json").exists():  # the fit case did not run before (--rule)
        fit("ridge_decoder", data | {"out": str(model)})
    return data | {"model": str(model / "model.json"), "out": str(point / "out")}


def _evaluate_run(job: dict) -> None:
    from bergforge.workflow.jobs import evaluate_decoder_job

    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    evaluate_decoder_job(
        real_config(DATASET),
        {"dataset": DATASET, "model": MODELS["ridge_decoder"]},
        model=Path(job["model"]),
        prepared=[Path(p) for p in job["stores"]],
        stimuli=Path(job["stimuli"]),
        features=Path(job["features"]),
        retrieval=out / "retrieval.json",
        ranks=out / "retrieval.npz",
        runtime={"threads": 2},
    )


def _evaluate_size(job: dict) -> Size:
    inputs = _fit_inputs(job) | {"model": job["model"]}
    return workflow_size("evaluate_decoder", DATASET, {"model": MODELS["ridge_decoder"]}, inputs)


def _decoder_disk(f: float) -> float:
    """GB of a point: the stores of every subject (twice while one is written), the features."""
    trials = sum(TRIALS_PER_RUN * max(2, round(n * f)) for n in N_RUNS.values())
    return 2 * trials * TRIAL_MB / 1e3 + N_IMAGES * DIMS * 4 / 1e9 + 0.5


#: the real design's trials (CSI1–CSI3: 5,254 each, CSI4: 3,108; of them test: 451 × 3 + 262),
#: as :func:`_events_table` gives them for every run (tests/test_bold5000_download.py checks CSI4's)
REAL_TRIALS, REAL_TEST_TRIALS = 18_870, 1_615
PCA_COMPONENTS = 500  # ridge_decoder's default


def _real(rule: str, gpu: bool = False) -> Size:
    """The real job's size, as the workflow sizes it (every subject, the default settings; on a
    GPU the host holds one read block of windows)."""
    from bergforge.models.decoding.data import READ_BLOCK
    from bergforge.workflow.resources import fmri_mlp_work

    mb = (READ_BLOCK if gpu else REAL_TRIALS) * TRIAL_MB
    if rule == "fit_ridge_decoder":
        return Size(mb, mb, 3 * FSAVERAGE5 * N_TRS * (PCA_COMPONENTS + 20) * 8 / 1e6)
    if rule in ("fit_fmri_mlp", "fit_fmri_linear"):
        work, params = fmri_mlp_work(REAL_TRIALS, FSAVERAGE5, DIMS, {}, 1, rule[len("fit_") :])
        return Size(mb, work, (8 * params + REAL_TRIALS * DIMS) * 4 / 1e6)
    if rule == "evaluate_decoder":  # the model folder: ridge_decoder's PCA and ridge weights
        test = REAL_TEST_TRIALS * TRIAL_MB
        return Size(test, test, (PCA_COMPONENTS * FSAVERAGE5 * N_TRS + 501 * DIMS) * 4 / 1e6)
    return Size(250.0, 35_000.0)  # bold5000_windows: CSI1, the largest pair ≈ 2 × 125 MB


LABEL = "BOLD5000 (bold5000.yaml), dinov2_giant"
TIMING = (
    "2 epochs (no early stop) per point; time fitted to the job's time projected to 40 epochs "
    "(its other work + 40 × the epoch loop's time per epoch) against the MFLOP of 40 epochs"
)
DECODER_COMMON = {"disk_gb": _decoder_disk, "extra": {"cache_group": GROUP}, "full_allowed": False}


def _trained_case(kind: str, network: str) -> Case:
    """The case of rule ``fit_{kind}`` (``fmri_mlp``, ``fmri_linear``) and its GPU estimate."""
    rule = f"fit_{kind}"
    return Case(
        name=f"{rule}[bold5000]",
        rule=rule,
        variant="cpu",
        dataset=f"{LABEL}, CSI1–CSI4 pooled, seed 33",
        unit="every subject's windows (MB)",
        work_unit="training MFLOP (every epoch)",
        real=_real(rule),
        prepare=_decoder_prepare(kind),
        run=_trained_run(kind),
        size=_fit_size(kind),
        fractions=DECODER_FRACTIONS,
        note=f"{network} on every trial in memory; {TIMING}.",
        gpu_variant="cuda",
        gpu_real=_real(rule, gpu=True),
        gpu_note="training MFLOP at half of 50 TFLOP/s plus the CPU's other time; the host holds "
        "one read block of windows, the GPU the rest",
        gpu_host_extra_mb=1000.0,
        **DECODER_COMMON,
    )


DECODING_CASES = [
    Case(
        name="bold5000_windows[bold5000]",
        rule="bold5000_windows",
        variant="fmri",
        dataset="BOLD5000 (bold5000.yaml), CSI1",
        unit="the largest run's two func.gii files (MB)",
        work_unit="every run's func.gii files (MB)",
        real=_real("bold5000_windows"),
        prepare=_windows_prepare,
        run=_windows_run,
        size=_windows_size,
        disk_gb=lambda f: _pair_mb() / 1e3 + 0.3,
        fractions=(1 / 64, 1 / 32, 1 / 16),
        note="142·fraction runs (≥ 2) of 2 × 163,842 vertices × 194 TRs (one pair of files linked "
        "as every run); peak flat in the runs (one run at a time), time per MB of runs.",
        full_allowed=False,
    ),
    Case(
        name="fit_ridge_decoder[bold5000]",
        rule="fit_ridge_decoder",
        variant="cpu",
        dataset=f"{LABEL}, CSI1–CSI4 pooled",
        unit="every subject's trials (MB)",
        work_unit="every subject's trials (MB)",
        real=_real("fit_ridge_decoder"),
        prepare=_decoder_prepare("ridge_decoder"),
        run=lambda job: fit("ridge_decoder", job) and None,
        size=_fit_size("ridge_decoder"),
        fractions=DECODER_FRACTIONS,
        note="the design's first runs of each subject (18,870 trials × 20,484 × 4 at full size); "
        "fixed = the PCA's work arrays (500 components of 81,936 values).",
        **DECODER_COMMON,
    ),
    _trained_case("fmri_mlp", "the default network (hidden 128, 2 blocks)"),
    _trained_case("fmri_linear", "the linear network (hidden 128, no blocks)"),
    Case(
        name="evaluate_decoder[bold5000]",
        rule="evaluate_decoder",
        variant="cpu",
        dataset=f"{LABEL}, ridge_decoder, CSI1–CSI4",
        unit="test trials (MB)",
        work_unit="test trials (MB)",
        real=_real("evaluate_decoder"),
        prepare=_evaluate_prepare,
        run=_evaluate_run,
        size=_evaluate_size,
        fractions=DECODER_FRACTIONS,
        note="every subject's test trials decoded and ranked among the test images; fixed = the "
        "model folder (ridge_decoder's PCA: 500 × 81,936 float32).",
        **DECODER_COMMON,
    ),
]
