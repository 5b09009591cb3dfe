"""Entry points of the fMRI workflow rules (simulate study, GLMsingle, prepare, CNN8 training)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import zarr

from bergforge.config import dataclass_from_section
from bergforge.datasets.mosaic import NsdStimuli
from bergforge.fmri.glmsingle import GLMSingleParams
from bergforge.fmri.own_rows import averaged_targets
from bergforge.fmri.prepare import (
    read_subject_runs,
    stimulus_rows,
    subject_betas,
    write_prepared_subject,
)
from bergforge.fmri.streaming import StimulusImages
from bergforge.fmri.train import (
    SubjectData,
    TrainConfig,
    predict,
    save_torch_atomic,
    train_multihead,
)
from bergforge.simulate.nsd import NsdSimulation, write_study

log = logging.getLogger(__name__)


def simulate_study_job(simulation: dict, subjects: list[int], raw_dir: Path, done: Path) -> None:
    """Write the simulated NSD-like study, then ``done`` (a summary) last."""
    sim = dataclass_from_section(NsdSimulation, simulation, "fmri.datasets.<name>.simulation")
    write_study(raw_dir, sim, list(subjects))
    _write_json(done, {"subjects": list(subjects), "simulation": asdict(sim)})


def glmsingle_job(
    raw_dir: Path, subject: int, glmsingle: dict, out_dir: Path, betas_path: Path
) -> None:
    """GLMsingle on one subject's runs; per-session z-scored type-D betas + trial table (npz)."""
    params = dataclass_from_section(GLMSingleParams, glmsingle, "fmri.glmsingle")
    runs = read_subject_runs(raw_dir, subject)
    betas, trials = subject_betas(runs, params, out_dir)
    log.info(
        "GLMsingle sub-%02d: %d runs, %d vertices, %d trials", subject, len(runs.data), *betas.shape
    )
    tmp = betas_path.with_name(f".{betas_path.name}.partial.npz")
    np.savez(
        tmp,
        betas=betas,
        grayordinates=runs.grayordinates,
        **{f"trial_{c}": trials[c].to_numpy() for c in trials.columns},
    )
    os.replace(tmp, betas_path)


def _load_betas(path: Path) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    with np.load(path) as f:
        trials = pd.DataFrame({k[6:]: f[k] for k in f.files if k.startswith("trial_")})
        return f["betas"], trials, f["grayordinates"]


def stimuli_job(betas_paths: list[Path], stimuli_path: Path) -> None:
    """Write the dataset's ``stimuli.tsv``: the union of every subject's images."""
    stimuli = stimulus_rows({i: _load_betas(p)[1] for i, p in enumerate(betas_paths)})
    tmp = stimuli_path.with_name(f".{stimuli_path.name}.partial")
    stimuli.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, stimuli_path)


def prepare_subject_job(
    dataset: str, subject: int, betas_path: Path, stimuli_path: Path, store: Path
) -> None:
    """Write one subject's prepared store ``[image, repetition, vertex]``."""
    betas, trials, gray = _load_betas(betas_path)
    stimuli = pd.read_csv(stimuli_path, sep="\t", keep_default_na=False)
    write_prepared_subject(betas, trials, stimuli, gray, store, dataset, subject)


def _rowwise_r(pred: np.ndarray, obs: np.ndarray) -> np.ndarray:
    p, o = pred - pred.mean(0), obs - obs.mean(0)
    return (p * o).sum(0) / np.sqrt((p**2).sum(0) * (o**2).sum(0))


def train_cnn8_job(
    stimuli_tsv: Path,
    stimuli_file: Path,
    stores: dict[int, Path],
    cnn8: dict,
    model_path: Path,
    summary_path: Path,
) -> None:
    """Train the multi-head CNN8 on repetition-averaged betas; held-out r on the shared test images.

    Host memory does not grow with the number of images: each subject's own rows are read one
    Zarr chunk at a time into memory-mapped float32 targets (``targets/`` next to the model,
    deleted at the end) and images are decoded from ``stimuli_file`` batch by batch.
    """
    cfg = dataclass_from_section(TrainConfig, cnn8, "fmri.cnn8")
    stimuli = pd.read_csv(stimuli_tsv, sep="\t")
    ids = stimuli["image_73k_id"].to_numpy()
    rows = {
        split: np.flatnonzero(stimuli["split"].to_numpy() == split) for split in ("train", "test")
    }
    scratch = model_path.with_name("targets")
    train, test = {}, {}
    with NsdStimuli(stimuli_file) as reader:
        for s, path in sorted(stores.items()):
            group = zarr.open_group(str(path), mode="r")
            name = f"sub-{s:02d}_NSD"
            for split, target in (("train", train), ("test", test)):
                seen, mean = averaged_targets(group, split, scratch / f"{name}_{split}.npy")
                images = StimulusImages(reader, ids[rows[split][seen]], cfg.input_size)
                target[name] = SubjectData(images, torch.from_numpy(mean))
        checkpoint = model_path.with_name("checkpoint.pt")
        model, info = train_multihead(train, cfg, checkpoint)
        correlation = {
            n: _rowwise_r(predict(model, d.images, n), d.responses.numpy()) for n, d in test.items()
        }
    save_torch_atomic({"config": asdict(cfg), "state_dict": model.state_dict()}, model_path)
    info["test_median_r"] = {n: float(np.median(r)) for n, r in correlation.items()}
    info["config"] = asdict(cfg)  # the export's metadata carries the input size from here
    _write_json(summary_path, info)
    checkpoint.unlink(missing_ok=True)
    del train, test
    shutil.rmtree(scratch, ignore_errors=True)


def _write_json(path: Path, obj: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)
