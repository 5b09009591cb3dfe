"""Scale-harness cases of free viewing (workflow/rules/free_viewing.smk) at AVS's size.

AVS per subject (the BrainEncoding26 challenge's free-viewing MEG): ~40,000 fixations on 4,080
NSD scenes of 425 × 425 px, fixation-onset epochs of the 204 TRIUX gradiometers from −0.1 to
0.5 s at 500 Hz (301 samples); 4 training subjects; the models predict the default 31 times
(0…0.3 s every 10 ms) from AlexNet ``features.12`` features (2 · 256 + 1 = 513 per fixation).
``config/avs.yaml`` points at the user's copy, so the cases size their jobs with an equivalent
local ``avs_fixations`` dataset whose ``path`` is the point's folder (:func:`avs_config`), laid
out as a local copy of AVS is (``DEFAULT_FILES``). ``avs.yaml`` trains ``shared`` on a GPU: its
CPU row is marked not configured. Its second backbone, ViT-B/32 (1,537 features per fixation,
about 6× AlexNet's FLOPs per crop), is not measured. Every input is synthetic, written at
fraction f of one subject's size (40,000·f fixations, 4,080·f scenes, about 9.8 fixations per
scene, in trials of one scene):

- ``fixation_epochs[meg]``: the published route (what a local AVS copy has): a random
  ``-epo.fif`` (204 gradiometers, float32, metadata ``trial``/``fixation``) and its table,
  through :func:`~bergforge.workflow.free_viewing_jobs.epochs_job` into the trial store;
- ``fixation_features[crops]`` / ``[gaze]``: the table and an ``nsd_stimuli.hdf5`` of random
  scenes, through :func:`~bergforge.features.fixation_job.fixation_features_job` with
  ``alexnet_untrained`` (seeded weights, no download), ``features.12``, 2 threads. The crop
  route makes its 224-px crops 512 fixations at a time (real), but only the first 2 ×
  :data:`CROP_STEPS` crops of the job go through the backbone (the rest get zeros): the
  backbone's time per crop is measured on them and projected to every crop of the point
  (``projected_seconds``);
- ``fit_fixation_model[ridge_cv]`` / ``[shared]``: 4 subjects' random feature stores
  (:func:`~bergforge.features.fixation_store.write_fixation_features`) and random trial stores
  ``[trial, 204, 301]``, through :func:`~bergforge.workflow.free_viewing_jobs.fit_job`; ``shared``
  trains 2 epochs (no early stop) and its epoch loop is projected to the kind's 200, as the
  trained kinds' cases do (its ``cuda`` row: the same other time plus the training FLOPs at half
  of 50 TFLOP/s, an estimate);
- ``evaluate_fixations[meg]`` / ``challenge_outputs[meg]``: subject 60's features and store (its
  table for the challenge) and a random ``ridge_cv`` model folder, through ``evaluate_job`` and
  ``challenge_job``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scale_cases import Case, Inputs
from scale_trained import GPU_EFFICIENCY, timed_training

from bergforge.workflow.resources import GPU_FLOPS, Size

DATASET = "avs"
N_FIXATIONS, N_SCENES, SIDE = 40_000, 4_080, 425  # per subject; NSD scenes are 425 × 425 px
SFREQ, TMIN, TMAX = 500.0, -0.1, 0.5
N_TIMES = int(round((TMAX - TMIN) * SFREQ)) + 1  # 301
N_CHANNELS = 204
TIMES = tuple(round(t, 3) for t in np.arange(0.0, 0.3001, 0.01))  # the default 31 times
C = 256  # AlexNet features.12 channels: 2·C + 1 = 513 features per fixation
N_FEATURES = 2 * C + 1
TRAIN, HELDOUT = (1, 2, 3, 4), 60
BACKBONE, LAYER = "alexnet_untrained", "features.12"
PIXELS_PER_DEGREE = SIDE / 8.4  # NSD scenes spanned 8.4° of visual angle
#: crops of each stream (foveal, parafoveal) put through the backbone per point
CROP_STEPS = 128
REAL_EPOCHS = 200  # the shared kind's max_epochs (worst case: no early stop)
GROUP = "free-viewing"
SPEC = {
    "columns": {c: c for c in ("scene", "trial", "fixation", "onset", "duration", "x", "y")}
    | {"next_x": "next_x", "next_y": "next_y", "session": "session"},
    "time_unit": "s",
    "position_unit": "pixels",
    "scene_size_px": [SIDE, SIDE],
    "screen": {"pixels_per_degree": PIXELS_PER_DEGREE},
}
TABLE = "sub-{s}/sub-{s}_fixations.tsv"
EPOCHS = "sub-{s}/meg/sub-{s}_task-avs-epo.fif"


def avs_config(raw: Path | str, kinds: dict | None = None) -> dict:
    """A config with AVS as a local ``avs_fixations`` dataset under ``raw`` (what the sizing
    functions read: its table spec, files, epochs, times and kinds)."""
    return {
        "datasets": {
            DATASET: {
                "format": "avs_fixations",
                "source": "local",
                "path": str(raw),
                "subjects": [*TRAIN, HELDOUT],
                "free_viewing": {
                    "heldout": [HELDOUT],
                    "evaluate": [HELDOUT],
                    "backbones": {BACKBONE: LAYER},
                    "kinds": kinds or {"ridge_cv": {}, "shared": {}},
                    "table": SPEC,
                },
            }
        },
        "backbones": {BACKBONE: {}},
    }


def workflow_size(rule: str, raw: Path | str, wildcards: dict, inputs: dict) -> Size:
    """The size :mod:`bergforge.workflow.resources` gives the job with these inputs."""
    from bergforge.workflow.resources import JOBS

    w = SimpleNamespace(dataset=DATASET, **wildcards)
    return JOBS[rule].size(avs_config(raw), w, Inputs(inputs))


# ------------------------------------------------------------------------------ inputs


def counts(fraction: float) -> tuple[int, int]:
    """(fixations, scenes) of one subject at ``fraction``."""
    return max(20, round(N_FIXATIONS * fraction)), max(2, round(N_SCENES * fraction))


def fixation_table(fraction: float, subject: int) -> pd.DataFrame:
    """A canonical fixation table: one trial per scene, its fixations 0.35 s apart, random places."""
    n, n_scenes = counts(fraction)
    rng = np.random.default_rng([subject, 40])
    per = np.full(n_scenes, n // n_scenes) + (np.arange(n_scenes) < n % n_scenes)
    trial = np.repeat(np.arange(1, n_scenes + 1), per)
    first = np.r_[0, np.cumsum(per)[:-1]]
    fixation = np.arange(n) - np.repeat(first, per) + 1
    last = np.r_[trial[1:] != trial[:-1], True]
    x, y = rng.uniform(20, SIDE - 20, n), rng.uniform(20, SIDE - 20, n)
    next_x, next_y = np.r_[x[1:], np.nan], np.r_[y[1:], np.nan]
    next_x[last], next_y[last] = np.nan, np.nan
    return pd.DataFrame(
        {
            "scene": rng.permutation(n_scenes)[trial - 1],
            "trial": trial,
            "fixation": fixation,
            "onset": 1.0 + (trial - 1) * 4.5 + (fixation - 1) * 0.35,
            "duration": np.full(n, 0.25),
            "x": x,
            "y": y,
            "next_x": next_x,
            "next_y": next_y,
            "session": 1,
        }
    )


def _folder(cache: Path, fraction: float) -> Path:
    return cache.parent / GROUP / f"inputs-{fraction:.6g}"


def _once(done: Path, write) -> None:
    if not done.exists():
        write()
        done.write_text("done")


def write_tables(raw: Path, fraction: float) -> None:
    for s in (*TRAIN, HELDOUT):
        path = raw / TABLE.format(s=f"{s:02d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fixation_table(fraction, s).to_csv(path, sep="\t", index=False)


def write_scenes(raw: Path, fraction: float) -> None:
    """``nsd_stimuli.hdf5`` with the subject's scenes (random uint8) in ``imgBrick``."""
    import h5py

    _, n_scenes = counts(fraction)
    rng = np.random.default_rng(7)
    with h5py.File(raw / "nsd_stimuli.hdf5", "w") as f:
        brick = f.create_dataset(
            "imgBrick", shape=(n_scenes, SIDE, SIDE, 3), dtype="uint8", chunks=(1, SIDE, SIDE, 3)
        )
        for start in range(0, n_scenes, 64):
            stop = min(n_scenes, start + 64)
            brick[start:stop] = rng.integers(0, 256, (stop - start, SIDE, SIDE, 3), np.uint8)


def write_epo(raw: Path, fraction: float, subject: int = 1) -> Path:
    """A published-style ``-epo.fif`` of random gradiometer epochs (float32 on disk)."""
    import mne

    from bergforge.datasets.sensors import triux_gradiometer_names

    table = fixation_table(fraction, subject)
    n = len(table)
    rng = np.random.default_rng([subject, 41])
    data = rng.standard_normal((n, N_CHANNELS, N_TIMES)) * 1e-11
    info = mne.create_info(triux_gradiometer_names(), SFREQ, "grad")
    events = np.c_[np.round(table["onset"] * SFREQ).astype(int), np.zeros(n, int), np.ones(n, int)]
    epochs = mne.EpochsArray(
        data,
        info,
        events=events,
        tmin=TMIN,
        metadata=table[["trial", "fixation"]].reset_index(drop=True),
        baseline=None,
        verbose="error",
    )
    path = raw / EPOCHS.format(s=f"{subject:02d}")
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs.save(path, overwrite=True, verbose="error")
    return path


def write_stores(folder: Path, fraction: float, subjects: tuple[int, ...]) -> None:
    """Per subject a random trial store ``[trial, 204, 301]`` (the fixation store's table) and a
    random feature store of every fixation (513 features, ``has_next`` as the last column)."""
    from scale_inputs import random_trial_store

    from bergforge.datasets.avs_fixations import FixationTableSpec, read_fixation_table
    from bergforge.datasets.sensors import triux_gradiometer_names
    from bergforge.features.fixation_store import write_fixation_features
    from bergforge.preprocess.fixation_epochs import store_table

    spec = FixationTableSpec.from_config(SPEC)
    times = (np.round(TMIN * SFREQ) + np.arange(N_TIMES)) / SFREQ
    for s in subjects:
        label = f"sub-{s:02d}"
        table = read_fixation_table(folder / "raw" / TABLE.format(s=f"{s:02d}"), spec)
        random_trial_store(
            folder / "prepared" / f"{label}.zarr",
            store_table(table, s, "test" if s == HELDOUT else "train"),
            s,
            {"channel": triux_gradiometer_names(), "time": times.tolist()},
            block=512,
            modality="meg",
            dataset=DATASET,
            sampling_period=1.0 / SFREQ,
            preprocessing={"epochs": "fixation onset", "scale_harness": "random epochs"},
        )
        rng = np.random.default_rng([s, 42])
        features = rng.standard_normal((len(table), N_FEATURES), dtype=np.float32)
        features[:, -1] = table["has_next"].to_numpy(dtype=np.float32)
        write_fixation_features(
            folder / "features" / f"{label}.zarr",
            np.arange(len(table)),
            features,
            {
                "backbone": BACKBONE,
                "layer": LAYER,
                "route": "gaze",
                "crop_deg": 2.0,
                "last_fixation": "mask",
                "n_table_rows": len(table),
                "seconds": 0.0,
                "forwards": 0,
                "peak_rss_mb": 0.0,
                "device": "cpu",
                "source": "scale harness (random features)",
            },
        )


def write_model(folder: Path) -> None:
    """A random ``ridge_cv`` model of the 4 training subjects, with ``fit_job``'s record."""
    from bergforge.datasets.sensors import triux_gradiometer_names
    from bergforge.models.fixations.folder import save_fixation_model
    from bergforge.models.fixations.model import FixationModel

    rng = np.random.default_rng(43)
    n_targets = N_CHANNELS * len(TIMES)
    arrays = {
        "input.mean": np.zeros(N_FEATURES),
        "input.scale": np.ones(N_FEATURES),
        "ridge.coef": rng.standard_normal((N_FEATURES, n_targets)) * 0.01,
    }
    arrays |= {
        k: np.ones(n_targets)
        for k in ("ridge.intercept", "ridge.alpha", "target.mean", "target.scale")
    }
    record = {
        "n_features": N_FEATURES,
        "n_targets": n_targets,
        "settings": {},
        "training": {},
        "free_viewing": {  # what fit_job records about the targets
            "stream": "dual",
            "times": list(TIMES),
            "channels": triux_gradiometer_names(),
            "n_fixations": [0] * len(TRAIN),
            "fit_seconds": 0.0,
        },
    }
    save_fixation_model(FixationModel("ridge_cv", list(TRAIN), arrays, record), folder)


def inputs(cache: Path, fraction: float, *, scenes=False, stores=(), model=False) -> Path:
    """The shared inputs of ``fraction`` (written once for every case that needs them)."""
    folder = _folder(cache, fraction)
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    _once(folder / "tables.done", lambda: write_tables(raw, fraction))
    if scenes:
        _once(folder / "scenes.done", lambda: write_scenes(raw, fraction))
    for s in stores:
        _once(folder / f"store-{s:02d}.done", lambda s=s: write_stores(folder, fraction, (s,)))
    if model:
        _once(folder / "model.done", lambda: write_model(folder / "model"))
    return folder


def _label(s: int) -> str:
    return f"sub-{s:02d}"


# ------------------------------------------------------------------------------ epochs


def _epochs_prepare(point: Path, fraction: float, cache: Path) -> dict:
    raw = point / "raw"
    raw.mkdir(parents=True)
    write_tables(raw, fraction)
    write_epo(raw, fraction)
    return {
        "raw": str(raw),
        "table": str(raw / TABLE.format(s="01")),
        "epochs": str(raw / EPOCHS.format(s="01")),
        "out": str(point / "sub-01.zarr"),
    }


def _epochs_run(job: dict) -> None:
    from bergforge.workflow.free_viewing_jobs import epochs_job

    epochs_job(
        job["out"],
        dataset=DATASET,
        subject=1,
        table_file=job["table"],
        spec=SPEC,
        epochs={},
        split="train",
        epochs_file=job["epochs"],
        epoch_ids=None,
    )


def _epochs_size(job: dict) -> Size:
    return workflow_size("fixation_epochs", job["raw"], {"subject": "01"}, {"table": job["table"]})


def _epochs_mb(f: float) -> float:
    return counts(f)[0] * N_CHANNELS * N_TIMES * 4 / 1e6


# ------------------------------------------------------------------------------ features


class _FewCrops:
    """``_pooled`` of the crop route cut to the first 2 × :data:`CROP_STEPS` crops of the job
    (the route pools its crops chunk by chunk: the budget spans the calls; the others get
    zeros); records (seconds, crops through the backbone, crops of the call)."""

    def __init__(self) -> None:
        import bergforge.features.fixation_features as module

        self.module, self.original, self.calls = module, module._pooled, []

    def __enter__(self) -> _FewCrops:
        def pooled(backbone, crops, layer, batch):
            budget = max(0, 2 * CROP_STEPS - sum(k for _, k, _ in self.calls))
            began = time.perf_counter()
            if budget:
                head = self.original(backbone, crops[:budget], layer, batch)
            else:
                head = np.zeros((0, C), np.float32)
            self.calls.append((time.perf_counter() - began, len(head), len(crops)))
            rest = np.zeros((len(crops) - len(head), C), np.float32)
            return np.concatenate([head, rest])

        self.module._pooled = pooled
        return self

    def __exit__(self, *exc) -> None:
        self.module._pooled = self.original


def _features_prepare(route: str):
    def prepare(point: Path, fraction: float, cache: Path) -> dict:
        raw = inputs(cache, fraction, scenes=True) / "raw"
        return {
            "raw": str(raw),
            "table": str(raw / TABLE.format(s="01")),
            "stimuli": str(raw / "nsd_stimuli.hdf5"),
            "route": route,
            "out": str(point / "features.zarr"),
        }

    return prepare


def _features_run(job: dict) -> dict | None:
    from bergforge.features.fixation_job import fixation_features_job

    def run() -> None:
        fixation_features_job(
            job["table"],
            SPEC,
            job["stimuli"],
            BACKBONE,
            {},
            LAYER,
            job["route"],
            {"crop_deg": 2.0, "last_fixation": "mask"},
            job["out"],
            device="cpu",
            threads=2,
        )

    if job["route"] != "crops":
        run()
        return None
    began = time.perf_counter()
    with _FewCrops() as few:
        run()
    seconds = time.perf_counter() - began
    spent = sum(t for t, _, _ in few.calls)
    per_crop = spent / sum(k for _, k, _ in few.calls)
    crops = sum(n for _, _, n in few.calls)
    return {
        "train_seconds": spent,
        "steps_run": sum(k for _, k, _ in few.calls),
        "projected_seconds": seconds - spent + per_crop * crops,
    }


def _features_size(route: str):
    def size(job: dict) -> Size:
        w = {"subject": "01", "route": route, "backbone": BACKBONE}
        return workflow_size("fixation_features", job["raw"], w, {"table": job["table"]})

    return size


_SCENES_MB = N_SCENES * SIDE * SIDE * 3 / 1e6


# ------------------------------------------------------------------------------ models


def _subject_inputs(folder: Path, subjects) -> dict:
    return {
        "features": [str(folder / "features" / f"{_label(s)}.zarr") for s in subjects],
        "prepared": [str(folder / "prepared" / f"{_label(s)}.zarr") for s in subjects],
    }


def _fit_prepare(kind: str):
    def prepare(point: Path, fraction: float, cache: Path) -> dict:
        folder = inputs(cache, fraction, stores=TRAIN)
        job = {"raw": str(folder / "raw"), "kind": kind, "out": str(point / "model")}
        job |= _subject_inputs(folder, TRAIN)
        return job | {"work": _fit_size(kind)(job).work}

    return prepare


def _fit_size(kind: str):
    def size(job: dict) -> Size:
        w = {"kind": kind, "route": "gaze", "stream": "dual", "backbone": BACKBONE}
        return workflow_size(
            "fit_fixation_model",
            job["raw"],
            w | {"train": "01-02-03-04"},
            {"features": job["features"], "prepared": job["prepared"]},
        )

    return size


def shared_macs(n_features: int = N_FEATURES, n_targets: int = N_CHANNELS * len(TIMES)) -> int:
    """Multiply-adds of one fixation through the shared kind's default network (one hidden layer
    of 512, the fixation's subject's adapter)."""
    hidden = 512
    return n_features * hidden + hidden * n_targets


def _fit_run(job: dict) -> dict | None:
    from bergforge.workflow.free_viewing_jobs import fit_job

    kind = job["kind"]
    settings = {"max_epochs": 2, "patience": 2} if kind == "shared" else {}
    began = time.perf_counter()
    with timed_training() as loops:
        fit_job(
            job["out"],
            kind=kind,
            settings=settings,
            stream="dual",
            times=list(TIMES),
            subjects=list(TRAIN),
            feature_files=job["features"],
            store_files=job["prepared"],
            device="cpu",
            threads=2,  # the rule's
        )
    seconds = time.perf_counter() - began
    if kind != "shared":
        return None
    ((train, epochs),) = loops
    other = seconds - train
    n_rows = job["work"] * 1e6 / ((N_FEATURES + N_CHANNELS * len(TIMES)) * 4)
    flops = REAL_EPOCHS * n_rows * 6 * shared_macs()
    return {
        "train_seconds": train,
        "epochs_run": epochs,
        "projected_seconds": other + train / epochs * REAL_EPOCHS,
        "gpu_seconds_per_work": (other + flops / (GPU_EFFICIENCY * GPU_FLOPS)) / job["work"],
    }


def _fit_mb(subjects: int) -> float:
    return subjects * N_FIXATIONS * (N_FEATURES + N_CHANNELS * len(TIMES)) * 4 / 1e6


# ------------------------------------------------------------------------------ evaluate, export


def _subject_prepare(rule: str):
    def prepare(point: Path, fraction: float, cache: Path) -> dict:
        folder = inputs(cache, fraction, stores=(HELDOUT,), model=True)
        job = {
            "raw": str(folder / "raw"),
            "model": str(folder / "model"),
            "features": str(folder / "features" / f"{_label(HELDOUT)}.zarr"),
            "prepared": str(folder / "prepared" / f"{_label(HELDOUT)}.zarr"),
            "table": str(folder / "raw" / TABLE.format(s=f"{HELDOUT:02d}")),
            "out": str(point / ("evaluation.json" if rule == "evaluate_fixations" else "out")),
        }
        return job

    return prepare


def _subject_size(rule: str):
    def size(job: dict) -> Size:
        w = {"subject": f"{HELDOUT:02d}", "kind": "ridge_cv", "route": "gaze", "stream": "dual"}
        return workflow_size(
            rule,
            job["raw"],
            w | {"backbone": BACKBONE},
            {"model": job["model"], "features": job["features"], "prepared": job["prepared"]},
        )

    return size


def _evaluate_run(job: dict) -> None:
    from bergforge.workflow.free_viewing_jobs import evaluate_job

    evaluate_job(
        job["out"],
        model_dir=job["model"],
        feature_file=job["features"],
        store_file=job["prepared"],
        subject=HELDOUT,
        latency=0.11,
    )


def _challenge_run(job: dict) -> None:
    from bergforge.workflow.free_viewing_jobs import challenge_job

    challenge_job(
        job["out"],
        model_dir=job["model"],
        feature_file=job["features"],
        table_file=job["table"],
        spec=SPEC,
        subject=HELDOUT,
        latency=0.11,
        model_info={"dataset": DATASET},
    )


def _subject_disk(f: float) -> float:
    """GB: a trial store (twice while written), features, tables, the challenge's outputs."""
    return 2 * _epochs_mb(f) / 1e3 + _fit_mb(1) * f / 1e3 + 0.2


LABEL = "AVS (a local avs_fixations copy; synthetic)"
MEMORY_FRACTIONS = (1 / 16, 1 / 8)  # the features and one subject's store: memory pinned by 1/8
#: 4 subjects' stores and features: below 1/16 the fits' peaks are still their fixed overhead
#: (per-block temporaries of the ridge, torch), so 1/32 bends the line; the coefficient rows add
#: a point at 1/4 (``--rule fit_fixation_model --fractions 0.25``)
FIT_FRACTIONS = (1 / 16, 1 / 8)

FREE_VIEWING_CASES = [
    Case(
        name="fixation_epochs[meg]",
        rule="fixation_epochs",
        variant="meg",
        dataset=f"{LABEL}, one subject, published -epo.fif",
        unit="epochs written (MB, float32)",
        work_unit="epochs written (MB, float32)",
        real=Size(_epochs_mb(1.0), _epochs_mb(1.0)),
        prepare=_epochs_prepare,
        run=_epochs_run,
        size=_epochs_size,
        disk_gb=lambda f: 3 * _epochs_mb(f) / 1e3 + 0.1,
        fractions=(1 / 32, 1 / 16),
        note="40,000·f epochs × 204 gradiometers × 301 samples (float32 -epo.fif, metadata "
        "trial/fixation), read 256 at a time into the trial store.",
    ),
    Case(
        name="fixation_features[crops]",
        rule="fixation_features",
        variant="crops",
        dataset=f"{LABEL}, one subject, {BACKBONE} {LAYER}, crops",
        unit="the subject's scenes and 224-px crops in memory (MB)",
        work_unit="fixations",
        real=Size(_SCENES_MB, float(N_FIXATIONS)),
        prepare=_features_prepare("crops"),
        run=_features_run,
        size=_features_size("crops"),
        disk_gb=lambda f: _SCENES_MB * f / 1e3 + 0.1,
        fractions=MEMORY_FRACTIONS,
        extra={"cache_group": GROUP},
        note=f"40,000·f fixations on 4,080·f random 425-px scenes (2° crops, 50.6 px/°); every "
        f"crop made and held (the job's memory), the first {CROP_STEPS} of each stream through "
        "the backbone (2 threads), the time projected to every crop.",
        full_allowed=False,
    ),
    Case(
        name="fixation_features[gaze]",
        rule="fixation_features",
        variant="gaze",
        dataset=f"{LABEL}, one subject, {BACKBONE} {LAYER}, gaze sampling",
        unit="the subject's scenes in memory (MB)",
        work_unit="fixations",
        real=Size(_SCENES_MB, float(N_FIXATIONS)),
        prepare=_features_prepare("gaze"),
        run=_features_run,
        size=_features_size("gaze"),
        disk_gb=lambda f: _SCENES_MB * f / 1e3 + 0.1,
        fractions=MEMORY_FRACTIONS,
        extra={"cache_group": GROUP},
        note="40,000·f fixations on 4,080·f random 425-px scenes; one forward per scene (2 threads).",
    ),
    Case(
        name="fit_fixation_model[ridge_cv]",
        rule="fit_fixation_model",
        variant="ridge_cv",
        dataset=f"{LABEL}, 4 training subjects, ridge_cv",
        unit="training fixations × (features + targets), float32 (MB)",
        work_unit="training fixations × (features + targets), float32 (MB)",
        real=Size(_fit_mb(len(TRAIN)), _fit_mb(len(TRAIN))),
        prepare=_fit_prepare("ridge_cv"),
        run=_fit_run,
        size=_fit_size("ridge_cv"),
        disk_gb=lambda f: len(TRAIN) * _subject_disk(f),
        fractions=FIT_FRACTIONS,
        note="4 × 40,000·f fixations, 513 random features, 204 × 31 targets read from random "
        "stores; 13 penalties by leave-one-out (float64).",
        extra={"cache_group": GROUP},
    ),
    Case(
        name="fit_fixation_model[shared]",
        rule="fit_fixation_model",
        variant="shared",
        dataset=f"{LABEL}, 4 training subjects, shared",
        unit="training fixations × (features + targets), float32 (MB)",
        work_unit="training fixations × (features + targets), float32 (MB)",
        real=Size(_fit_mb(len(TRAIN)), _fit_mb(len(TRAIN))),
        prepare=_fit_prepare("shared"),
        run=_fit_run,
        size=_fit_size("shared"),
        disk_gb=lambda f: len(TRAIN) * _subject_disk(f),
        fractions=FIT_FRACTIONS,
        note="as ridge_cv; the network at its default width (512 hidden, 4 adapters), 2 epochs "
        "(no early stop) per point, the job's time projected to 200 epochs.",
        full_allowed=False,
        gpu_variant="shared_cuda",
        gpu_note="training FLOPs at half of 50 TFLOP/s plus the CPU's other time",
        gpu_host_extra_mb=1000.0,
        not_configured=("shared",),  # config/avs.yaml trains shared on a GPU
        extra={"cache_group": GROUP},
    ),
    Case(
        name="evaluate_fixations[meg]",
        rule="evaluate_fixations",
        variant="meg",
        dataset=f"{LABEL}, subject 60, ridge_cv",
        unit="the subject's fixations × (features + targets), float32 (MB)",
        work_unit="the subject's fixations × (features + targets), float32 (MB)",
        real=Size(_fit_mb(1), _fit_mb(1)),
        prepare=_subject_prepare("evaluate_fixations"),
        run=_evaluate_run,
        size=_subject_size("evaluate_fixations"),
        disk_gb=_subject_disk,
        fractions=MEMORY_FRACTIONS,
        note="40,000·f fixations: random features and store, a random ridge_cv model; "
        "predictions and correlations in float64.",
        extra={"cache_group": GROUP},
    ),
    Case(
        name="challenge_outputs[meg]",
        rule="challenge_outputs",
        variant="meg",
        dataset=f"{LABEL}, subject 60, ridge_cv",
        unit="the subject's fixations × (features + targets), float32 (MB)",
        work_unit="the subject's fixations × (features + targets), float32 (MB)",
        real=Size(_fit_mb(1), _fit_mb(1)),
        prepare=_subject_prepare("challenge_outputs"),
        run=_challenge_run,
        size=_subject_size("challenge_outputs"),
        disk_gb=_subject_disk,
        fractions=MEMORY_FRACTIONS,
        note="40,000·f fixations: random features, the table, a random ridge_cv model; the "
        "latency and time-series .npy files and the sidecar.",
        extra={"cache_group": GROUP},
    ),
]

assert math.isclose(_epochs_mb(1.0), 9824.64)  # 40,000 × 204 × 301 × 4 bytes
