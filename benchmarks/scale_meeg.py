"""Scale-harness cases of MEG/EEG decoding (``config/things_eeg_decoding.yaml``, THINGS-EEG2).

- ``meeg_decoding_windows[eeg]``: one subject's neuralbench-style windows from THINGS-EEG2's raw
  session dicts, written as :func:`scale_things.write_eeg_raw` writes them for the encoding
  route (4 sessions; training partitions of 8,270·f images × 2 and test partitions of 200·f
  images × 20, 6 % targets, float64 at 1000 Hz). One recording is in memory at a time, so the
  peak follows the largest partition and the time every partition.
- ``fit_simple_conv[eeg]``: the 10 subjects' trial-indexed stores ``[trial, 63, 120]`` (random
  float32 windows) at fraction f of each subject's trials (66,160 training + 16,000 test at full
  size; validation = every fifth session partition of the training trials), the stimulus table
  and DINOv2-giant-sized targets (1,536 random values per image); the network at neuralbench's
  width (4.96 M parameters). A full-size fit is weeks on 2 CPU cores, so each point trains a few
  batches at full width (the memory of the real steps with every training window on the host)
  and times them: the time is projected to the real job's 40 epochs of every batch at that
  fraction, and the GPU row is estimated from the FLOPs, as for the other trained kinds.
  ``things_eeg_decoding.yaml`` trains on a GPU: the CPU row is marked not configured.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scale_cases import Case, merged_config, workflow_size
from scale_inputs import random_trial_store
from scale_things import (
    EEG_SESSIONS,
    EEG_TEST,
    EEG_TEST_REPS,
    EEG_TRAIN,
    EEG_TRAIN_REPS,
    STEADY_FRACTIONS,
    _eeg_partition_mb,
    write_eeg_raw,
)
from scale_trained import GPU_EFFICIENCY

from bergforge.workflow.resources import GPU_FLOPS, Size

DATASET, BACKBONE = "things_eeg_dec", "dinov2_giant"
SUBJECTS = tuple(range(1, 11))
CHANNELS, TIMES, DIMS = 63, 120, 1_536  # neuralbench's windows: 63 EEG channels, 1 s at 120 Hz
MODEL = f"simple_conv-{BACKBONE}_seed33"
#: training steps (and validation batches) each point runs at full width
STEPS = 8
REAL_EPOCHS = 40  # simple_conv's max_epochs: the real job's worst case (no early stop)
GROUP = "simple-conv-eeg"


# ------------------------------------------------------------------------------ windows


def _windows_prepare(point: Path, fraction: float, cache: Path) -> dict:
    raw = write_eeg_raw(point / "raw", fraction)
    return {"raw": str(raw), "raw_dir": str(point / "raw"), "out": str(point / "sub-01.zarr")}


def _windows_run(job: dict) -> None:
    from bergforge.preprocess.meeg_decoding import prepare_decoding_job
    from bergforge.workflow.meeg_decoding import window_section

    prepare_decoding_job(
        "things_eeg2",
        Path(job["raw_dir"]),
        1,
        Path(job["out"]),
        window_section(merged_config(DATASET), DATASET),
        {"n_sessions": EEG_SESSIONS},
        dataset=DATASET,
    )


def _windows_size(job: dict) -> Size:
    return workflow_size("meeg_decoding_windows", DATASET, {"subject": "01"}, {"raw": job["raw"]})


_TRAIN_MB = _eeg_partition_mb(EEG_TRAIN // 2 * EEG_TRAIN_REPS)  # 8,270 images × 2 repetitions
_ALL_MB = EEG_SESSIONS * (_TRAIN_MB + _eeg_partition_mb(EEG_TEST * EEG_TEST_REPS))
_WINDOWS_GB = (EEG_TRAIN * 4 + EEG_TEST * 80) * CHANNELS * TIMES * 4 / 1e9


# ------------------------------------------------------------------------------ simple_conv


def trial_counts(fraction: float) -> tuple[int, int]:
    """(training images, test images) of every subject at ``fraction``."""
    return max(8, 2 * round(EEG_TRAIN * fraction / 2)), max(2, round(EEG_TEST * fraction))


def subject_trials(subject: int, fraction: float) -> pd.DataFrame:
    """One subject's trial table: each training image once per session (half of them in each
    session pair, twice each), each test image 20 times per session; validation = the training
    trials of every fifth (subject, session) partition."""
    n_train, n_test = trial_counts(fraction)
    rows = []
    for session in range(1, EEG_SESSIONS + 1):
        half = np.arange(n_train)[np.arange(n_train) % 2 == (session - 1) // 2]
        validation = (subject + session) % 5 == 0
        for run, images, reps, split in (
            (1, half, EEG_TRAIN_REPS, "validation" if validation else "train"),
            (2, np.arange(n_test), EEG_TEST_REPS, "test"),
        ):
            prefix = "train" if run == 1 else "test"
            codes = np.repeat(images, reps)
            rows.append(
                pd.DataFrame(
                    {
                        "subject": subject,
                        "session": session,
                        "run": run,
                        "image": [f"{prefix}_{k:05d}" for k in codes],
                        "split": split,
                        "onset": 1.0 + 0.2 * np.arange(codes.size),
                        "code": codes + 1,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def _write_store(path: Path, table: pd.DataFrame, subject: int) -> None:
    """A subject's store of random windows ``[trial, 63, 120]`` with the sensor positions the
    fit reads (random, the same for every subject)."""
    from bergforge.datasets.sensors import EEG_CHANNELS

    positions = np.random.default_rng(0).random((CHANNELS, 3))
    random_trial_store(
        path,
        table,
        subject,
        {"channel": list(EEG_CHANNELS)[:CHANNELS], "time": list(range(TIMES))},
        block=1024,
        modality="eeg",
        dataset=DATASET,
        sampling_period=1.0 / TIMES,
        preprocessing={
            "variant": "neuralbench",
            "scale_harness": "random windows",
            "sensor_positions_normalised": positions.tolist(),
            "sensor_positions_source": "random (scale harness)",
        },
    )


def simple_conv_inputs(fraction: float, cache: Path) -> dict:
    """The 10 stores, stimuli.tsv and features at ``fraction`` (written once per fraction)."""
    from scale_decoding import _write_features

    from bergforge.preprocess.stimuli import write_stimuli_table

    folder = cache.parent / GROUP / f"inputs-{fraction:.6g}"
    done = folder / "data.json"
    if done.exists():
        return json.loads(done.read_text())
    prepared = folder / "prepared" / DATASET
    prepared.mkdir(parents=True, exist_ok=True)
    n_train, n_test = trial_counts(fraction)
    stimuli = pd.concat(
        [
            pd.DataFrame(
                {
                    "image_id": [f"{prefix}_{k:05d}" for k in range(n)],
                    "split": split,
                    "index": np.arange(n),
                    "concept": "",
                    "file": [f"images/{prefix}_{k:05d}.jpg" for k in range(n)],
                }
            )
            for prefix, split, n in (("train", "train", n_train), ("test", "test", n_test))
        ],
        ignore_index=True,
    )
    write_stimuli_table(stimuli, prepared / "stimuli.tsv")
    stores, splits = [], []
    for s in SUBJECTS:
        store, table = prepared / f"sub-{s:02d}.zarr", subject_trials(s, fraction)
        _write_store(store, table, s)
        stores.append(str(store))
        splits.append(table["split"])
    features = _write_features(folder / "features" / DATASET / BACKBONE, list(stimuli.image_id))
    split = pd.concat(splits)
    data = {
        "stores": stores,
        "stimuli": str(prepared / "stimuli.tsv"),
        "features": str(features),
        "n_fit": int((split == "train").sum()),  # the fit's rows, for the time's projection
        "n_validation": int((split == "validation").sum()),
    }
    done.write_text(json.dumps(data))
    return data


def _fit_inputs(job: dict) -> dict:
    return {"prepared": job["stores"], "stimuli": job["stimuli"], "features": job["features"]}


def _fit_size(job: dict) -> Size:
    return workflow_size("fit_simple_conv", DATASET, {"model": MODEL}, _fit_inputs(job), CPU)


CPU = {"models": {"simple_conv": {"device": "cpu"}}}


def _fit_prepare(point: Path, fraction: float, cache: Path) -> dict:
    job = simple_conv_inputs(fraction, cache) | {"out": str(point / "out")}
    return job | {"work": _fit_size(job).work}


class _FewBatches:
    """``run_epoch`` and ``validation_sums`` of the decoders' loop cut to :data:`STEPS` batches,
    the training steps timed (seconds, steps)."""

    def __init__(self) -> None:
        import bergforge.models.decoding.train as loop

        self.loop, self.steps = loop, []
        self.run_epoch, self.validation_sums = loop.run_epoch, loop.validation_sums

    def __enter__(self) -> _FewBatches:
        def run_epoch(model, optimizer, scheduler, x, y, order, batch_size, *args, **kwargs):
            began = time.perf_counter()
            cut = order[: STEPS * batch_size]
            out = self.run_epoch(
                model, optimizer, scheduler, x, y, cut, batch_size, *args, **kwargs
            )
            self.steps.append((time.perf_counter() - began, math.ceil(cut.shape[0] / batch_size)))
            return out

        def validation_sums(model, x, y, rows, batch_size, *args, **kwargs):
            cut = rows[: STEPS * batch_size]
            return self.validation_sums(model, x, y, cut, batch_size, *args, **kwargs)

        self.loop.run_epoch, self.loop.validation_sums = run_epoch, validation_sums
        return self

    def __exit__(self, *exc) -> None:
        self.loop.run_epoch, self.loop.validation_sums = self.run_epoch, self.validation_sums


def _fit_run(job: dict) -> dict:
    import torch
    from scale_decoding import fit_decoder

    from bergforge.models.decoding.simple_conv_settings import SimpleConvConfig
    from bergforge.workflow.models import kind_settings

    config = merged_config(DATASET, {"models": {"simple_conv": {"device": "cpu", "max_epochs": 1}}})
    torch.set_num_threads(2)
    with _FewBatches() as few:
        seconds = fit_decoder(config, DATASET, "simple_conv", MODEL, job, "cpu")
    settings = kind_settings(config, DATASET, "simple_conv")
    ((train, steps),) = few.steps
    n_fit, n_val = job["n_fit"], job["n_validation"]
    batch = SimpleConvConfig.from_settings(settings).batch_size
    per_step = train / steps
    # the real job at this fraction: 40 epochs of every training batch, and the validation's
    # forward passes (a third of a training step each)
    real_steps = REAL_EPOCHS * (math.ceil(n_fit / batch) + math.ceil(n_val / batch) / 3)
    other = seconds - train
    return {
        "train_seconds": train,
        "steps_run": steps,
        "projected_seconds": other + per_step * real_steps,
        "gpu_seconds_per_work": other / job["work"] + 1e6 / (GPU_EFFICIENCY * GPU_FLOPS),
    }


def _real_fit(gpu: bool) -> Size:
    """The real job's size as the workflow computes it (10 subjects × 82,160 trials × 63 × 120)."""
    from bergforge.models.decoding.data import READ_BLOCK
    from bergforge.workflow.resources import simple_conv_work

    n_trials = len(SUBJECTS) * (EEG_TRAIN * 4 + EEG_TEST * 80)
    mb = n_trials * CHANNELS * TIMES * 4 / 1e6
    work, params = simple_conv_work(n_trials, CHANNELS, TIMES, DIMS, {})
    fixed = (8 * params + n_trials * DIMS) * 4 / 1e6
    host = min(mb, READ_BLOCK * CHANNELS * TIMES * 4 / 1e6) if gpu else mb
    return Size(host, work, fixed)


def _fit_disk(f: float) -> float:
    """GB of a point: the 10 stores (twice while one is written), the features."""
    return 2 * len(SUBJECTS) * _WINDOWS_GB * f + 0.5


MEEG_DECODING_CASES = [
    Case(
        name="meeg_decoding_windows[eeg]",
        rule="meeg_decoding_windows",
        variant="eeg",
        dataset="THINGS-EEG2 decoding (things_eeg_decoding.yaml), one subject",
        unit="largest raw partition (MB)",
        work_unit="all raw partitions (MB)",
        real=Size(_TRAIN_MB, _ALL_MB),
        prepare=_windows_prepare,
        run=_windows_run,
        size=_windows_size,
        disk_gb=lambda f: (_ALL_MB / 1e3 + 2 * _WINDOWS_GB) * f + 0.1,
        fractions=STEADY_FRACTIONS,
        note="the encoding route's raw dicts (6 % targets); one partition (float64) and its "
        "windows in memory at a time, the windows staged to disk until the store is written.",
    ),
    Case(
        name="fit_simple_conv[eeg]",
        rule="fit_simple_conv",
        variant="cpu",
        dataset="THINGS-EEG2 decoding (things_eeg_decoding.yaml), 10 subjects pooled, seed 33",
        unit="every subject's windows (MB)",
        work_unit="training MFLOP (every epoch)",
        real=_real_fit(gpu=False),
        prepare=_fit_prepare,
        run=_fit_run,
        size=_fit_size,
        disk_gb=_fit_disk,
        fractions=(1 / 64, 1 / 32),
        note=f"the network at neuralbench's width, every training window on the host; {STEPS} "
        "training steps and validation batches per point, timed, the time projected to 40 "
        "epochs of every batch at the point's fraction (validation batches at a third of a step).",
        full_allowed=False,
        gpu_variant="cuda",
        gpu_real=_real_fit(gpu=True),
        gpu_note="training MFLOP at half of 50 TFLOP/s plus the CPU's other time; the host holds "
        "one read block of windows and the targets, the GPU the rest",
        gpu_host_extra_mb=1000.0,
        not_configured=("cpu",),  # things_eeg_decoding.yaml trains on one GPU
        extra={"cache_group": GROUP},
    ),
]
