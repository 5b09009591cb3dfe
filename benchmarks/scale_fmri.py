"""Scale-harness cases of config/nsd_mosaic.yaml: MOSAIC betas → betas file → prepared store → CNN8.

A real NSD subject (the 40-session ones): 10,000 images × 3 repetitions = 30,000 trials, 1,000 of
the images shared by all 8 subjects (the test images), 9,000 its own; 57,051 model vertices of the
91,282 grayordinates. At fraction f a subject has round(9,000 f) own and round(1,000 f) shared
images. As in NSD, the subjects' own images interleave in 73k-id order, so each subject's rows of
the dataset-wide ``train`` array (every subject's images) are spread over its chunks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scale_cases import QUICK_FRACTIONS, Case, harness_device, workflow_size

from bergforge.workflow.resources import Size, cnn8_size

SUBJECTS, OWN, SHARED, REPS = 8, 9000, 1000, 3
N_GRAY, N_MODEL = 91_282, 57_051
SIDE = 425  # imgBrick images are 425 × 425 × 3
CNN8_BATCH = 64
GB = 1e9


def counts(fraction: float) -> tuple[int, int]:
    """(shared, own) images per subject at ``fraction`` of the real size."""
    return max(3, round(SHARED * fraction)), max(2, round(OWN * fraction))


def own_ids(subject: int, n_shared: int, n_own: int) -> np.ndarray:
    """73k ids of a subject's own images: after the shared ones, the 8 subjects in turn."""
    return n_shared + np.arange(n_own) * SUBJECTS + subject


def trial_table(subject: int, n_shared: int, n_own: int) -> pd.DataFrame:
    """A subject's trials as MOSAIC's reader sorts them: by image, then repetition."""
    ids = np.concatenate([np.arange(1, n_shared + 1), own_ids(subject, n_shared, n_own)])
    ids = np.sort(ids)
    n = ids.size * REPS
    return pd.DataFrame(
        {
            "image_73k_id": np.repeat(ids, REPS).astype(np.int64),
            "session": np.zeros(n, dtype=np.int64),
            "run": np.zeros(n, dtype=np.int64),
            "shared": np.repeat(ids <= n_shared, REPS),
            "repetition": np.tile(np.arange(REPS), ids.size).astype(np.int64),
        }
    )


def write_stimuli(path: Path, n_shared: int, n_own: int) -> Path:
    """The dataset's ``stimuli.tsv``: every subject's images (the fmri_stimuli rule's table)."""
    from bergforge.preprocess.fmri import stimulus_rows
    from bergforge.preprocess.stimuli import write_stimuli_table

    tables = {s: trial_table(s, n_shared, n_own) for s in range(1, SUBJECTS + 1)}
    write_stimuli_table(stimulus_rows(tables), path)
    return path


def write_betas_file(path: Path, subject: int, n_shared: int, n_own: int, n_vertices: int) -> Path:
    """A betas file (rule fmri_mosaic_betas's output) of random betas, written in blocks."""
    from bergforge.datasets.grayordinates import grayordinate_space
    from bergforge.preprocess.betas_file import write_betas

    trials = trial_table(subject, n_shared, n_own)
    vertices = grayordinate_space().model_space()[:n_vertices]
    rng = np.random.default_rng(subject)

    def blocks():
        for start in range(0, len(trials), 256):
            n = min(256, len(trials) - start)
            yield rng.standard_normal((n, vertices.size), dtype=np.float32)

    path.parent.mkdir(parents=True, exist_ok=True)
    write_betas(path, blocks(), len(trials), vertices, {c: trials[c].to_numpy() for c in trials})
    return path


def write_mosaic(folder: Path, subject: int, n_shared: int, n_own: int) -> tuple[Path, Path]:
    """``nsd_stiminfo.tsv`` and a MOSAIC subject file ``sub-XX_NSD.hdf5``: one (91,282,)
    float32 dataset per trial (NaN at MOSAIC's NaN grayordinates), plus 2 artificial trials."""
    import h5py

    from bergforge.datasets.grayordinates import grayordinate_space

    trials = trial_table(subject, n_shared, n_own)
    n_ids = n_shared + n_own * SUBJECTS
    ids = np.arange(1, n_ids + 1)
    info = pd.DataFrame(
        {
            "filename": [f"{i:012d}.jpg" for i in ids] + ["art001.jpg", "art002.jpg"],
            "alias": np.concatenate([ids - 1, [0, 1]]),
            "source": ["COCO"] * n_ids + ["NSDsynthetic"] * 2,
            "test_train": np.where(ids <= n_shared, "test", "train").tolist() + ["test"] * 2,
        }
    )
    stiminfo = folder / "nsd_stiminfo.tsv"
    info.to_csv(stiminfo, sep="\t", index=False)
    nan = grayordinate_space().nan_mask()
    rng = np.random.default_rng(subject)
    path = folder / f"sub-{subject:02d}_NSD.hdf5"
    names = [
        f"sub-{subject:02d}_NSD_stimulus-{i:012d}_phase-{'test' if shared else 'train'}_rep-{r}"
        for i, shared, r in zip(trials.image_73k_id, trials.shared, trials.repetition, strict=True)
    ]
    names += [f"sub-{subject:02d}_NSD_stimulus-art00{k}_phase-artificial_rep-0" for k in (1, 2)]
    with h5py.File(path, "w") as f:
        group = f.create_group("betas")
        for start in range(0, len(names), 256):
            part = names[start : start + 256]
            values = rng.standard_normal((len(part), N_GRAY), dtype=np.float32)
            values[:, nan] = np.nan
            for name, row in zip(part, values, strict=True):
                group.create_dataset(name, data=row)
    return path, stiminfo


def write_brick(path: Path, ids: np.ndarray, n_rows: int) -> Path:
    """``nsd_stimuli.hdf5`` with ``n_rows`` rows of which only ``ids`` (1-based) are written."""
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        brick = f.create_dataset(
            "imgBrick", shape=(n_rows, SIDE, SIDE, 3), dtype=np.uint8, chunks=(1, SIDE, SIDE, 3)
        )
        for i in np.sort(np.asarray(ids)):
            brick[i - 1] = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    return path


def write_store(folder: Path, subject: int, stimuli: Path, n_shared: int, n_own: int) -> Path:
    """A subject's prepared store, written by the preprocessing job itself from a betas file."""
    from bergforge.preprocess.betas_file import BetasFile
    from bergforge.preprocess.fmri import write_prepared_subject
    from bergforge.preprocess.stimuli import read_stimuli

    betas = write_betas_file(folder / f"betas-{subject:02d}.npz", subject, n_shared, n_own, N_MODEL)
    store = folder / f"sub-{subject:02d}.zarr"
    write_prepared_subject(BetasFile(betas), read_stimuli(stimuli), store, "nsd", subject)
    betas.unlink()
    return store


# ---------------------------------------------------------------------------------- cases


def _mosaic_prepare(point: Path, fraction: float, cache: Path) -> dict:
    path, stiminfo = write_mosaic(point, 1, *counts(fraction))
    return {"betas": str(path), "stiminfo": str(stiminfo), "out": str(point / "out/sub-01.npz")}


def _mosaic_run(job: dict) -> None:
    from bergforge.preprocess.mosaic_betas import mosaic_betas_job

    mosaic = {"groups": list(range(1, 23))}
    mosaic_betas_job(Path(job["betas"]), Path(job["stiminfo"]), 1, mosaic, Path(job["out"]))


def _prepare_prepare(point: Path, fraction: float, cache: Path) -> dict:
    n_shared, n_own = counts(fraction)
    betas = write_betas_file(point / "betas/sub-01.npz", 1, n_shared, n_own, N_MODEL)
    stimuli = write_stimuli(point / "stimuli.tsv", n_shared, n_own)
    return {"betas": str(betas), "stimuli": str(stimuli), "store": str(point / "sub-01.zarr")}


def _prepare_run(job: dict) -> None:
    from bergforge.preprocess.fmri_jobs import prepare_subject_job

    prepare_subject_job("nsd", 1, Path(job["betas"]), Path(job["stimuli"]), Path(job["store"]))


def _stimuli_prepare(point: Path, fraction: float, cache: Path) -> dict:
    n_shared, n_own = counts(fraction)
    files = [
        str(write_betas_file(point / f"betas/sub-{s:02d}.npz", s, n_shared, n_own, 16))
        for s in range(1, SUBJECTS + 1)
    ]
    return {"betas": files, "stimuli": str(point / "stimuli.tsv"), "trials": n_shared + n_own}


def _stimuli_run(job: dict) -> None:
    from bergforge.preprocess.fmri_jobs import stimuli_job

    stimuli_job([Path(p) for p in job["betas"]], Path(job["stimuli"]))


def _betas_size(job: dict) -> Size:
    return workflow_size("fmri_prepare_subject", "nsd", {}, {"betas": job["betas"]})


CNN8_CONFIG = {"max_epochs": 1}  # one epoch of a few batches: the memory of a training step


def _cnn8_batch(fraction: float) -> int:
    return max(1, round(CNN8_BATCH * fraction))


def _cnn8_overrides(fraction: float) -> dict:
    return {
        "models": {
            "cnn8": {**CNN8_CONFIG, "batch_size": _cnn8_batch(fraction), "device": harness_device()}
        }
    }


def _cnn8_fit_prepare(point: Path, fraction: float, cache: Path) -> dict:
    n_shared, n_own = 1, 2  # per subject: 1 training + 1 validation image, 1 test image
    stimuli = write_stimuli(point / "stimuli.tsv", n_shared, n_own)
    stores = [str(write_store(point, s, stimuli, n_shared, n_own)) for s in range(1, SUBJECTS + 1)]
    n_ids = n_shared + n_own * SUBJECTS
    brick = write_brick(point / "nsd_stimuli.hdf5", np.arange(1, n_ids + 1), n_ids)
    from bergforge.models.cnn8.shapes import forward_flops
    from bergforge.workflow.resources import GPU_FLOPS

    train_flops = 3 * forward_flops(384, 224, N_MODEL)  # per image: forward + backward
    return {
        "stores": stores,
        "stimuli": str(stimuli),
        "images": str(brick),
        "model": str(point / "model"),
        "overrides": _cnn8_overrides(fraction),
        "report": {"gpu_seconds_per_work": train_flops / GPU_FLOPS},
    }


def _cnn8_fit_run(job: dict) -> None:
    import torch
    from scale_cases import merged_config

    from bergforge.workflow.jobs import fit_job
    from bergforge.workflow.models import kind_settings

    config = merged_config("nsd", job["overrides"])
    torch.set_num_threads(2)
    marker = Path(job["model"]) / "training.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    fit_job(
        config,
        {"dataset": "nsd", "model": "CNN8_multihead"},
        prepared=[Path(s) for s in job["stores"]],
        stimuli=Path(job["stimuli"]),
        features=None,
        images=job["images"],
        settings=kind_settings(config, "nsd", "cnn8"),
        marker=marker,
        runtime={"threads": 2, "device": harness_device()},
    )


def _cnn8_fit_size(job: dict) -> Size:
    inputs = {"prepared": job["stores"], "stimuli": job["stimuli"], "images": job["images"]}
    return workflow_size("fit_cnn8", "nsd", {}, inputs, job["overrides"])


def _real_cnn8(device: str) -> Size:
    settings = {"width": 384, "input_size": 224, "batch_size": CNN8_BATCH, "max_epochs": 100}
    return cnn8_size([N_MODEL] * SUBJECTS, SUBJECTS * OWN, settings, device)


def _cnn8_eval_prepare(point: Path, fraction: float, cache: Path) -> dict:
    n_shared, n_own = 3, counts(fraction)[1]  # 3 test images: their prediction is GPU work
    stimuli = write_stimuli(point / "stimuli.tsv", n_shared, n_own)
    store = write_store(point, 1, stimuli, n_shared, n_own)
    model = cache / "model"
    if not (model / "model.pt").exists():  # the real network: 8 heads of 57,051 vertices
        write_cnn8_model(model)
    brick = write_brick(point / "nsd_stimuli.hdf5", np.arange(1, n_shared + 1), n_shared)
    return {
        "store": str(store),
        "stimuli": str(stimuli),
        "images": str(brick),
        "model": str(model),
        "out": str(point / "evaluation"),
    }


def write_cnn8_model(folder: Path) -> Path:
    """``model.pt`` of a CNN8 at the real width with 8 heads of 57,051 vertices (random weights)."""
    from dataclasses import asdict

    import torch

    from bergforge.models.cnn8.network import MultiHeadEncoder
    from bergforge.models.cnn8.train import TrainConfig, save_torch_atomic
    from bergforge.models.folder_checksums import seal_model_folder

    torch.manual_seed(0)
    heads = {f"sub-{s:02d}_NSD": N_MODEL for s in range(1, SUBJECTS + 1)}
    model = MultiHeadEncoder(heads, 384, 224)
    folder.mkdir(parents=True, exist_ok=True)
    state = {"config": asdict(TrainConfig()), "state_dict": model.state_dict()}
    save_torch_atomic(state, folder / "model.pt")
    (folder / "training.json").write_text("{}")
    seal_model_folder(folder)  # a fitted folder is sealed; the evaluation checks it on reading
    return folder / "model.pt"


def _cnn8_eval_run(job: dict) -> None:
    import torch
    from scale_cases import merged_config

    from bergforge.workflow.jobs import evaluate_job

    torch.set_num_threads(2)
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    evaluate_job(
        merged_config("nsd", {"models": {"cnn8": {"device": "cpu"}}}),
        {"dataset": "nsd", "model": "CNN8_multihead", "subject": "01"},
        models=[Path(job["model"]) / "training.json"],
        prepared=Path(job["store"]),
        stimuli=Path(job["stimuli"]),
        features=None,
        images=job["images"],
        evaluation=out / "evaluation.npz",
        summary=out / "summary.json",
        runtime={"threads": 2},
    )


def _cnn8_eval_size(job: dict) -> Size:
    return workflow_size(
        "evaluate_subject",
        "nsd",
        {"model": "CNN8_multihead", "subject": "01"},
        {"prepared": job["store"], "stimuli": job["stimuli"], "images": job["images"]},
    )


def write_cnn8_evaluation(folder: Path, store: Path, stimuli: Path) -> Path:
    """``evaluation.npz`` of a CNN8 subject (random scores over its test images), written by the
    evaluation's own writer: what rule evaluate_subject gives the summary, without predicting."""
    from bergforge.datasets.grayordinates import N_GRAYORDINATES
    from bergforge.evaluation.cnn8 import seen_rows, summary
    from bergforge.evaluation.files import write_evaluation
    from bergforge.evaluation.fmri_metadata import NOISE_CEILING_KEYS
    from bergforge.preprocess.responses import PreparedResponses
    from bergforge.preprocess.stimuli import read_stimuli

    responses = PreparedResponses(store)
    vertices = np.asarray(responses.attrs["vertices"], dtype=np.int64)
    rows = seen_rows(responses.read("test"))
    table = read_stimuli(stimuli)
    ids = table[table["split"] == "test"].sort_values("index")["image_id"].to_numpy(dtype=str)
    rng = np.random.default_rng(0)
    maps = {k: rng.random(vertices.size, dtype=np.float32) for k in ("correlation", "ncsnr")}
    result = {
        "vertices": vertices,
        "test_image_ids": ids[rows],
        "test_predictions": rng.standard_normal((rows.size, vertices.size), dtype=np.float32),
        **maps,
        "noise_ceiling": 100 * maps["ncsnr"],
        "percent_noise_ceiling": 100 * maps["correlation"],
        "n_test_repetitions": np.float64(REPS),
        **{k: rng.random(N_GRAYORDINATES, dtype=np.float32) for k in NOISE_CEILING_KEYS},
    }
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "evaluation.npz"
    write_evaluation(out, folder / "summary.json", result, summary(result), layout="images")
    return out


def _summary_prepare(point: Path, fraction: float, cache: Path) -> dict:
    n_shared, n_own = counts(fraction)
    stimuli = write_stimuli(point / "stimuli.tsv", n_shared, n_own)
    store = write_store(point, 1, stimuli, n_shared, n_own)
    evaluation = write_cnn8_evaluation(point / "evaluation", store, stimuli)
    return {"evaluation": str(evaluation), "store": str(store), "out": str(point / "section")}


def _summary_run(job: dict) -> None:
    from bergforge.report.section import summary_section

    out = Path(job["out"])
    labels = {
        "dataset": "nsd",
        "modality": "fmri",
        "kind": "cnn8",
        "backbone": "",
        "model": "CNN8_multihead",
        "subject": 1,
    }
    summary_section(
        job["evaluation"],
        job["store"],
        labels,
        [],
        [],
        out / "section.json",
        out / "predictions.png",
        out / "noise_ceiling.png",
    )


_BETAS_GB = (SHARED + OWN) * REPS * N_MODEL * 4 / GB
_EVALUATION_MB = (SHARED + 6) * N_MODEL * 4 / 1e6 + 6 * 91_282 * 4 / 1e6
_MOSAIC_GB = (SHARED + OWN) * REPS * N_GRAY * 4 / GB

FMRI_CASES = [
    Case(
        name="fmri_mosaic_betas[nsd]",
        rule="fmri_mosaic_betas",
        variant="fmri",
        dataset="NSD via MOSAIC (nsd_mosaic.yaml), one subject",
        unit="MOSAIC subject file (MB)",
        work_unit="MOSAIC subject file (MB)",
        real=Size(_MOSAIC_GB * 1e3, _MOSAIC_GB * 1e3),
        prepare=_mosaic_prepare,
        run=_mosaic_run,
        size=lambda job: workflow_size("fmri_mosaic_betas", "nsd", {}, {"betas": job["betas"]}),
        disk_gb=lambda f: (_MOSAIC_GB + _BETAS_GB) * f + 0.1,
        fractions=QUICK_FRACTIONS,
        note="30,000 trials of 91,282 float32 at full size (HDF5 overhead not counted).",
    ),
    Case(
        name="fmri_prepare_subject[nsd]",
        rule="fmri_prepare_subject",
        variant="fmri",
        dataset="NSD via MOSAIC (nsd_mosaic.yaml), one subject",
        unit="betas file (MB)",
        work_unit="betas file (MB)",
        real=Size(_BETAS_GB * 1e3, _BETAS_GB * 1e3),
        prepare=_prepare_prepare,
        run=_prepare_run,
        size=_betas_size,
        disk_gb=lambda f: 2 * _BETAS_GB * f + 0.1,
        fractions=QUICK_FRACTIONS,
        note="stimuli.tsv holds all 8 subjects' images, as the real one.",
    ),
    Case(
        name="fmri_stimuli[nsd]",
        rule="fmri_stimuli",
        variant="local",
        dataset="NSD via MOSAIC (nsd_mosaic.yaml), 8 subjects",
        unit="images per subject",
        work_unit="images per subject",
        real=Size(SHARED + OWN, SHARED + OWN),
        prepare=_stimuli_prepare,
        run=_stimuli_run,
        size=lambda job: Size(job["trials"], job["trials"]),
        disk_gb=lambda f: 0.2 + 0.01 * f,
        note="local rule (no resources); its betas files hold 16 vertices, as it reads only the "
        "trial tables.",
    ),
    Case(
        name="fit_cnn8[nsd]",
        rule="fit_cnn8",
        variant="cpu",
        dataset="NSD via MOSAIC (nsd_mosaic.yaml), CNN8 over 8 subjects",
        unit="activations of one batch on the host (MB)",
        work_unit="image-epochs",
        real=_real_cnn8("cpu"),
        prepare=_cnn8_fit_prepare,
        run=_cnn8_fit_run,
        size=_cnn8_fit_size,
        disk_gb=lambda f: 9.0,
        fractions=(1 / 32, 1 / 8),  # ≈3 min a point, whatever the batch: two points
        note="full width (384 channels, 224 px, 8 heads of 57,051 vertices) with batches of "
        "64·fraction images, one epoch over 2 images per subject (1 training, 1 validation) and "
        "1 test image: the memory of training steps; time per image-epoch from these points "
        "(CPU), full size = 72,000 images × 100 epochs (worst case, no early stop).",
        full_allowed=False,
        gpu_variant="cuda",
        gpu_real=_real_cnn8("cuda"),
        gpu_note="3 × forward FLOPs at 50 TFLOP/s",
        gpu_host_extra_mb=1000.0,
        extra={"time_per_work_only": True},
        not_configured=("cpu",),  # nsd_mosaic.yaml trains CNN8 on one GPU
    ),
    Case(
        name="evaluate_subject[nsd]",
        rule="evaluate_subject",
        variant="fmri",
        dataset="NSD via MOSAIC (nsd_mosaic.yaml), one subject, CNN8",
        unit="prepared store on disk (MB)",
        work_unit="prepared store on disk (MB)",
        real=Size(_BETAS_GB * 1e3, _BETAS_GB * 1e3, 16 * SHARED * N_MODEL / 1e6),
        prepare=_cnn8_eval_prepare,
        run=_cnn8_eval_run,
        size=_cnn8_eval_size,
        disk_gb=lambda f: _BETAS_GB * f * 1.1 + 2.5,
        fractions=QUICK_FRACTIONS,
        note="the real network (model.pt of 8 heads); own training images scale with the "
        "fraction, test images stay 3 (their CNN8 prediction is GPU work, ≈1,000 × 481 GFLOP); "
        "fixed = their predictions and means (16 bytes per image and vertex), from the shapes.",
    ),
    Case(
        name="summary_section[nsd]",
        rule="summary_section",
        variant="fmri",
        dataset="NSD via MOSAIC (nsd_mosaic.yaml), one subject, CNN8",
        unit="evaluation.npz (MB)",
        work_unit="evaluation.npz (MB)",
        real=Size(_EVALUATION_MB, _EVALUATION_MB),
        prepare=_summary_prepare,
        run=_summary_run,
        size=lambda job: workflow_size(
            "summary_section",
            "nsd",
            {"model": "CNN8_multihead", "subject": "01"},
            {"evaluation": job["evaluation"]},
        ),
        disk_gb=lambda f: 1.1 * _BETAS_GB * f + 0.2,
        fractions=QUICK_FRACTIONS,
        note="evaluation.npz written by the evaluation's writer with random scores (the CNN8 "
        "predictions of 1,000 test images are GPU work); size = its test predictions.",
    ),
]
