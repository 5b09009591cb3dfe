"""The job of rule fit_cnn8: train the multi-head CNN8 and record its held-out accuracy."""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from bergforge.atomic import save_json
from bergforge.config import dataclass_from_section
from bergforge.datasets.mosaic import NsdStimuli
from bergforge.logs import log_runtime
from bergforge.models.cnn8.streaming import StimulusImages, preloaded
from bergforge.models.cnn8.train import (
    SubjectData,
    TrainConfig,
    predict,
    save_torch_atomic,
    train_multihead,
)
from bergforge.preprocess.responses import PreparedResponses
from bergforge.preprocess.stimuli import read_stimuli

log = logging.getLogger(__name__)


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
    runtime: dict | None = None,
) -> None:
    """Train the multi-head CNN8 on repetition-averaged betas; held-out r on the shared test images.

    Host memory does not grow with the number of images: each subject's own rows are read one
    Zarr chunk at a time into memory-mapped float32 targets (``targets/`` next to the model,
    deleted at the end) and images are decoded from ``stimuli_file`` batch by batch, unless a
    subject's images fit in :data:`~bergforge.models.cnn8.streaming.PRELOAD_BYTES` (then once).
    ``cnn8`` holds the hyperparameters (config ``models.cnn8`` without ``device``), ``runtime`` the
    device (and the job's threads and memory, for the log). The device used is also recorded in
    the config of ``model_path`` and ``summary_path``.
    """
    runtime = dict(runtime or {})
    device = {k: runtime[k] for k in ("device",) if k in runtime}
    cfg = dataclass_from_section(TrainConfig, {**cnn8, **device}, "models.cnn8")
    log_runtime({**runtime, "device": cfg.device}, log)
    stimuli = read_stimuli(stimuli_tsv)
    ids = stimuli["image_73k_id"].to_numpy()
    rows = {
        split: np.flatnonzero(stimuli["split"].to_numpy() == split) for split in ("train", "test")
    }
    scratch = model_path.with_name("targets")
    train, test = {}, {}
    with NsdStimuli(stimuli_file) as reader:
        for s, path in sorted(stores.items()):
            responses = PreparedResponses(path)
            name = f"sub-{s:02d}_NSD"
            for split, target in (("train", train), ("test", test)):
                seen, mean = responses.own_means(split, scratch / f"{name}_{split}.npy")
                images = preloaded(StimulusImages(reader, ids[rows[split][seen]], cfg.input_size))
                target[name] = SubjectData(images, torch.from_numpy(mean))
        checkpoint = model_path.with_name("checkpoint.pt")
        model, info = train_multihead(train, cfg, checkpoint)
        correlation = {
            n: _rowwise_r(predict(model, d.images, n), d.responses.numpy()) for n, d in test.items()
        }
    save_torch_atomic({"config": asdict(cfg), "state_dict": model.state_dict()}, model_path)
    info["test_median_r"] = {n: float(np.median(r)) for n, r in correlation.items()}
    info["config"] = asdict(cfg)  # the export's metadata carries the input size from here
    save_json(summary_path, info, sort_keys=False)  # the metadata keeps this order
    checkpoint.unlink(missing_ok=True)
    del train, test
    shutil.rmtree(scratch, ignore_errors=True)
