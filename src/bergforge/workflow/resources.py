"""``mem_mb`` and ``runtime`` of the heavy rules, computed from the sizes of each job's inputs.

Every heavy rule names a *job model* here: a sizing function that reads the job's inputs (file
sizes, array shapes in ``zarr.json``, ``features.json``) and a row of :data:`COEFFICIENTS`, the one
table of numbers measured by the scale harness (``benchmarks/scale.py``). A job is predicted to
need::

    peak RSS (MB)  = mem_base_mb + mem_mb_per_unit · size.units + size.fixed_mb
    time (s)       = seconds_base + seconds_per_work · size.work

where ``fixed_mb`` is memory known from the shapes alone (a model's parameters, the PCA's
``components_``), so that small configurations ask for little. The rule declares (the margin,
documented in README "Resources"):

    mem_mb  = ⌈(1.2 · prediction + 512 MB) / 100⌉ · 100     (between the prediction and
                                                             1.5 · prediction + 1 GB, always)
    runtime = ⌈2 · predicted minutes⌉ + 10                  (times come from a shared 2-core
                                                             machine; a time limit kills the job)

Resources are functions of Snakemake's ``input`` and never rule params, so they schedule no rerun.
Before a job's inputs exist (while Snakemake plans, ``-n``), the job is sized as the real dataset's
job (the row's ``real`` size); Snakemake evaluates the functions again when the job is ready to
run. ``features.mem_mb`` and ``preprocess.mem_mb`` in config, and ``--set-resources`` on the
command line, override the computed memory.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bergforge.config import runtime_settings

#: declared memory = MEM_FACTOR · prediction + MEM_PAD_MB, rounded up to MEM_STEP_MB
MEM_FACTOR, MEM_PAD_MB, MEM_STEP_MB = 1.2, 512, 100
#: declared runtime (min) = RUNTIME_FACTOR · predicted minutes + RUNTIME_PAD_MIN, rounded up
RUNTIME_FACTOR, RUNTIME_PAD_MIN = 2.0, 10
#: sustained float32/TF32 rate assumed for one data-centre GPU (an estimate: no GPU was measured)
GPU_FLOPS = 50e12
MB = 1e6


@dataclass(frozen=True)
class Size:
    """How big one job is: ``units`` drive memory, ``work`` drives time, ``fixed_mb`` is memory
    known from the shapes (added as it is)."""

    units: float
    work: float
    fixed_mb: float = 0.0


@dataclass(frozen=True)
class JobModel:
    """Measured coefficients of one job (rule and variant) and the size of its real-data job."""

    unit: str  # what Size.units counts
    work_unit: str  # what Size.work counts
    mem_base_mb: float
    mem_mb_per_unit: float
    seconds_base: float
    seconds_per_work: float
    real: Size  # the job at the real datasets' size (config/*.yaml), used before inputs exist
    source: str  # where the numbers come from

    def peak_mb(self, size: Size) -> float:
        """Predicted peak resident memory (MB)."""
        return self.mem_base_mb + self.mem_mb_per_unit * size.units + size.fixed_mb

    def seconds(self, size: Size) -> float:
        """Predicted wall time (s)."""
        return self.seconds_base + self.seconds_per_work * size.work


def declared_mem_mb(peak_mb: float) -> int:
    """``mem_mb`` a rule asks for, for a predicted peak of ``peak_mb``."""
    return int(math.ceil((MEM_FACTOR * max(peak_mb, 0.0) + MEM_PAD_MB) / MEM_STEP_MB) * MEM_STEP_MB)


def declared_runtime(seconds: float) -> int:
    """``runtime`` (minutes) a rule asks for, for a predicted wall time of ``seconds``."""
    return int(math.ceil(RUNTIME_FACTOR * max(seconds, 0.0) / 60)) + RUNTIME_PAD_MIN


# ------------------------------------------------------------------------------ the one table
# Keys are "<job>/<variant>". Numbers: `python benchmarks/scale.py` (it prints these rows with
# --emit-coefficients); each row's `source` says on which machine, at which fractions of the real
# size and when. The `real` sizes are the jobs of config/things_meg.yaml, things_eeg.yaml and
# nsd_mosaic.yaml (THINGS-MEG1 P1: 27,048 epochs × 272 × 281; THINGS-EEG2: 16,540 × 4 training +
# 200 × 80 test trials; NSD: 30,000 trials × 57,051 vertices; ViT-B/32: 460,800 features).
COEFFICIENTS: dict[str, JobModel] = {
    # free viewing at AVS's size per subject (benchmarks/scale_free_viewing.py): 40,000 fixations
    # × 204 × 301 samples, 4,080 NSD scenes of 425 px, 4 training subjects, 513 features and
    # 204 × 31 targets. ridge_cv at that size needs ~23 GB (its float64 copies of every target).
    "fixation_epochs/meg": JobModel(
        unit="epochs written (MB, float32)",
        work_unit="epochs written (MB, float32)",
        real=Size(9824.64, 9824.64, 0.0),
        mem_base_mb=480,
        mem_mb_per_unit=0.0241103,
        seconds_base=0.0,
        seconds_per_work=0.0292854,
        source="measured 2026-12-06, 2 CPUs, fractions 0.03125, 0.0625",
    ),
    "fixation_features/crops": JobModel(
        unit="the subject's scenes in memory (MB)",
        work_unit="fixations",
        real=Size(2210.85, 40000.0, 0.0),
        mem_base_mb=1327,
        mem_mb_per_unit=0.954836,
        seconds_base=37.6,
        seconds_per_work=0.0151829,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125 (crops made 512 fixations "
        "at a time)",
    ),
    "fixation_features/gaze": JobModel(
        unit="the subject's scenes in memory (MB)",
        work_unit="fixations",
        real=Size(2210.85, 40000.0, 0.0),
        mem_base_mb=1114,
        mem_mb_per_unit=1.04288,
        seconds_base=0.0,
        seconds_per_work=0.010728,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125, 0.25",
    ),
    "fit_fixation_model/ridge_cv": JobModel(
        unit="training fixations × (features + targets), float32 (MB)",
        work_unit="training fixations × (features + targets), float32 (MB)",
        real=Size(4375.68, 4375.68, 0.0),
        mem_base_mb=1010,
        mem_mb_per_unit=1.45633,
        seconds_base=3.3,
        seconds_per_work=0.0695566,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125 (targets solved 512 at a "
        "time)",
    ),
    "fit_fixation_model/shared": JobModel(
        unit="training fixations × (features + targets), float32 (MB)",
        work_unit="training fixations × (features + targets), float32 (MB)",
        real=Size(4375.68, 4375.68, 0.0),
        mem_base_mb=1439,
        mem_mb_per_unit=1.94454,
        seconds_base=0.0,
        seconds_per_work=30.1758,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125, 0.25",
    ),
    "fit_fixation_model/shared_cuda": JobModel(
        unit="training fixations × (features + targets), float32 (MB)",
        work_unit="training fixations × (features + targets), float32 (MB)",
        real=Size(4375.68, 4375.68, 0.0),
        mem_base_mb=2439,
        mem_mb_per_unit=1.94454,
        seconds_base=0.0,
        seconds_per_work=0.0456602,
        source=(
            "GPU estimate (training FLOPs at half of 50 TFLOP/s plus the CPU's "
            "other time), memory 2026-12-06, 2 CPUs, fractions 0.0625, 0.125, 0.25"
        ),
    ),
    "evaluate_fixations/meg": JobModel(
        unit="the subject's fixations × (features + targets), float32 (MB)",
        work_unit="the subject's fixations × (features + targets), float32 (MB)",
        real=Size(1093.92, 1093.92, 0.0),
        mem_base_mb=294,
        mem_mb_per_unit=11.4811,
        seconds_base=0.5,
        seconds_per_work=0.051606,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125",
    ),
    "challenge_outputs/meg": JobModel(
        unit="the subject's fixations × (features + targets), float32 (MB)",
        work_unit="the subject's fixations × (features + targets), float32 (MB)",
        real=Size(1093.92, 1093.92, 0.0),
        mem_base_mb=138,
        mem_mb_per_unit=5.83092,
        seconds_base=0.6,
        seconds_per_work=0.014547,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125",
    ),
    "fmri_mosaic_betas/fmri": JobModel(
        unit="MOSAIC subject file (MB)",
        work_unit="MOSAIC subject file (MB)",
        real=Size(10953.84, 10953.84, 0.0),
        mem_base_mb=300,
        mem_mb_per_unit=0.00561711,
        seconds_base=0.0,
        seconds_per_work=0.00511174,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "fmri_prepare_subject/fmri": JobModel(
        unit="betas file (MB)",
        work_unit="betas file (MB)",
        real=Size(6846.12, 6846.12, 0.0),
        mem_base_mb=346,
        mem_mb_per_unit=0.948501,
        seconds_base=14.4,
        seconds_per_work=0.00909232,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "fit_cnn8/cpu": JobModel(
        unit="activations of one batch on the host (MB)",
        work_unit="image-epochs",
        real=Size(33008.376576, 7200000.0, 7934.925696),
        mem_base_mb=799,
        mem_mb_per_unit=0.467806,
        seconds_base=0.0,
        seconds_per_work=15.6991,
        source="measured 2026-12-05, 2 CPUs, fractions 0.03125, 0.0625, 0.125",
    ),
    "fit_cnn8/cuda": JobModel(
        unit="activations of one batch on the host (MB)",
        work_unit="image-epochs",
        real=Size(0.0, 7200000.0, 1983.731424),
        mem_base_mb=1799,
        mem_mb_per_unit=0.467806,
        seconds_base=0.0,
        seconds_per_work=0.0288717,
        source=(
            "GPU estimate (3 × forward FLOPs at 50 TFLOP/s), memory 2026-12-05, 2 "
            "CPUs, fractions 0.03125, 0.0625, 0.125"
        ),
    ),
    "evaluate_subject/fmri": JobModel(
        unit="prepared store on disk (MB)",
        work_unit="prepared store on disk (MB)",
        real=Size(6846.12, 6846.12, 912.816),
        mem_base_mb=2836,
        mem_mb_per_unit=0.00171711,
        seconds_base=16.7,
        seconds_per_work=0.0159213,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "preprocess_meg_subject_from_epochs/meg": JobModel(
        unit="epochs files (MB)",
        work_unit="epochs files (MB)",
        real=Size(8238.928992, 8238.928992, 0.0),
        mem_base_mb=1861,
        mem_mb_per_unit=0.0028816,
        seconds_base=1.3,
        seconds_per_work=0.0117952,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25",
    ),
    "preprocess_eeg_subject/eeg": JobModel(
        unit="largest raw partition (MB)",
        work_unit="all raw partitions (MB)",
        real=Size(1797.3248, 8934.1952, 0.0),
        mem_base_mb=1657,
        mem_mb_per_unit=1.97369,
        seconds_base=5.1,
        seconds_per_work=0.0606148,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5",
    ),
    "extract_feature_shard/cpu": JobModel(
        unit="images in the shard",
        work_unit="images in the shard",
        real=Size(1000, 1000, 0.0),
        mem_base_mb=1573,
        mem_mb_per_unit=0.183158,
        seconds_base=30.5,
        seconds_per_work=0.203617,
        source="measured 2026-12-05, 2 CPUs, fractions 0.0625, 0.125, 0.25, 1",
    ),
    "extract_feature_shard/cuda": JobModel(
        unit="images in the shard",
        work_unit="images in the shard",
        real=Size(1000, 1000, 0.0),
        mem_base_mb=2573,
        mem_mb_per_unit=0.183158,
        seconds_base=30.5,
        seconds_per_work=0.00344184,
        source=(
            "GPU estimate (FLOPs at 50 TFLOP/s or decoding on 4 threads), memory "
            "2026-12-05, 2 CPUs, fractions 0.0625, 0.125, 0.25, 1"
        ),
    ),
    "fit_linear/meg": JobModel(
        unit="feature matrix (MB)",
        work_unit="feature matrix (MB)",
        real=Size(41376.1536, 41376.1536, 973.2096),
        mem_base_mb=1182,
        mem_mb_per_unit=0,
        seconds_base=55.2,
        seconds_per_work=0.0336405,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25",
    ),
    "evaluate_subject/meg": JobModel(
        unit="test responses (MB)",
        work_unit="test responses (MB)",
        real=Size(731.0496, 731.0496, 2304.0),
        mem_base_mb=626,
        mem_mb_per_unit=1.26765,
        seconds_base=62.9,
        seconds_per_work=0.0183111,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "export_meg_subject/meg": JobModel(
        unit="test responses (MB)",
        work_unit="test responses (MB)",
        real=Size(731.0496, 731.0496, 2304.0),
        mem_base_mb=1001,
        mem_mb_per_unit=0,
        seconds_base=19.9,
        seconds_per_work=0.0170874,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "summary_section/meg": JobModel(
        unit="evaluation.npz (MB)",
        work_unit="evaluation.npz (MB)",
        real=Size(312.523704, 312.523704, 0.0),
        mem_base_mb=166,
        mem_mb_per_unit=0.993234,
        seconds_base=1.1,
        seconds_per_work=0.00434703,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "fit_linear/eeg": JobModel(
        unit="feature matrix (MB)",
        work_unit="feature matrix (MB)",
        real=Size(30855.167999999998, 30855.167999999998, 973.2096),
        mem_base_mb=991,
        mem_mb_per_unit=0.0153259,
        seconds_base=83.5,
        seconds_per_work=0.0227731,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5",
    ),
    "evaluate_subject/eeg": JobModel(
        unit="test responses (MB)",
        work_unit="test responses (MB)",
        real=Size(564.48, 564.48, 2304.0),
        mem_base_mb=162,
        mem_mb_per_unit=0.403796,
        seconds_base=14.0,
        seconds_per_work=0.033344,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "export_eeg_subject/eeg": JobModel(
        unit="test responses (MB)",
        work_unit="test responses (MB)",
        real=Size(564.48, 564.48, 2304.0),
        mem_base_mb=0,
        mem_mb_per_unit=0,
        seconds_base=15.2,
        seconds_per_work=0,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "summary_section/eeg": JobModel(
        unit="evaluation.npz (MB)",
        work_unit="evaluation.npz (MB)",
        real=Size(36.19728, 36.19728, 0.0),
        mem_base_mb=180,
        mem_mb_per_unit=0.848214,
        seconds_base=3.8,
        seconds_per_work=0.0154267,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    "fit_mlp/cpu": JobModel(
        unit="training targets in memory (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(6776.829792, 1046385066.96, 2384.1927),
        mem_base_mb=810,
        mem_mb_per_unit=1.52369,
        seconds_base=868.5,
        seconds_per_work=2.24639e-05,
        source="measured 2026-12-05, 2 CPUs, fractions 0.01562, 0.03125, 0.0625",
    ),
    "fit_mlp/cuda": JobModel(
        unit="training targets in memory (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(6776.829792, 1046385066.96, 2227.4168),
        mem_base_mb=1810,
        mem_mb_per_unit=1.52369,
        seconds_base=868.5,
        seconds_per_work=8.94451e-07,
        source=(
            "GPU estimate (training MFLOP at half of 50 TFLOP/s plus the CPU's "
            "other time), memory 2026-12-05, 2 CPUs, fractions 0.01562, 0.03125, "
            "0.0625"
        ),
    ),
    "summary_section/fmri": JobModel(
        unit="evaluation.npz (MB)",
        work_unit="evaluation.npz (MB)",
        real=Size(231.763992, 231.763992, 0.0),
        mem_base_mb=306,
        mem_mb_per_unit=1.12484,
        seconds_base=1.0,
        seconds_per_work=0.0169148,
        source="measured 2026-12-05, 2 CPUs, fractions 0.125, 0.25, 0.5, 1",
    ),
    # fit_shared: measured by the scale harness (2026-12-05, fit_shared[meg] at 1/64, 1/32, 1/24
    # and, in a second run, 1/8 (8.09 GB, 2 epochs 371.5 s); only with the 1/8 point are the
    # targets a large enough part of the peak to pin the slope (0.93 MB per MB of targets).
    # evaluate_unseen: times measured (1/64–1/24), memory a guess: at those fractions its fitted
    # slope (0.81) is no better pinned than fit_shared's was there (0.64 before the 1/8 point), so
    # the conservative guess stays. Sized like the real THINGS-MEG1 job (4 subjects × 22,248
    # training images × 76,151 targets, ViT-B/32's 460,800 features, 250 components, 512 hidden
    # units, every one of 200 epochs).
    "fit_shared/cpu": JobModel(
        unit="every subject's training targets in memory (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(27107.319168, 4185540267.84, 6603.262704),
        mem_base_mb=0,
        mem_mb_per_unit=0.927872,
        seconds_base=2817.4,
        seconds_per_work=6.61341e-05,
        source=("measured 2026-12-05, 2 CPUs, fractions 0.01562, 0.03125, 0.04167, 0.125"),
    ),
    "fit_shared/cuda": JobModel(
        unit="every subject's training targets in memory (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(27107.319168, 4185540267.84, 5977.701248),
        mem_base_mb=1000,
        mem_mb_per_unit=0.927872,
        seconds_base=2817.4,
        seconds_per_work=3.78007e-07,
        source=(
            "GPU estimate (training MFLOP at half of 50 TFLOP/s plus the CPU's "
            "other time), memory 2026-12-05, 2 CPUs, fractions 0.01562, 0.03125, "
            "0.04167, 0.125"
        ),
    ),
    "evaluate_unseen/cpu": JobModel(
        unit="every subject's training targets in memory (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(27107.319168, 4185540267.84, 7227.0916959999995),
        mem_base_mb=1500,
        mem_mb_per_unit=1.25,
        seconds_base=2855.7,
        seconds_per_work=3.19394e-05,
        source=(
            "time measured 2026-12-05, 2 CPUs, fractions 0.01562, 0.03125, 0.04167; memory not yet "
            "measured: a guess (see above)"
        ),
    ),
    "evaluate_unseen/cuda": JobModel(
        unit="every subject's training targets in memory (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(27107.319168, 4185540267.84, 6601.53024),
        mem_base_mb=2500,
        mem_mb_per_unit=1.25,
        seconds_base=2855.7,
        seconds_per_work=4.00345e-07,
        source=(
            "time: GPU estimate (training MFLOP at half of 50 TFLOP/s plus the CPU's other time, "
            "measured 2026-12-05 at 1/64, 1/32, 1/24); memory not yet measured: a guess (see above)"
        ),
    ),
    # bold5000_windows: one run (both hemispheres' fsnative func.gii) in memory at a time
    # (bergforge.preprocess.bold_prepare): nibabel's per-volume arrays and their stack, the
    # projection's float64 copy, the fsaverage5 run (small), its windows and the store's pending
    # chunk, the two sphere projections (≈ 60 MB), the interpreter and libraries (≈ 0.3 GB).
    # units: the largest run's two files; work: all of them. The real job is CSI1's (CSI1–CSI3:
    # 142 runs, the largest pair ≈ 2 × 125 MB, ≈ 35 GB in all).
    "bold5000_windows/fmri": JobModel(
        unit="the largest run's two func.gii files (MB)",
        work_unit="every run's func.gii files (MB)",
        real=Size(250.0, 35000.0, 0.0),
        mem_base_mb=827,
        mem_mb_per_unit=0,
        seconds_base=1.0,
        seconds_per_work=0.0232544,
        source="measured 2026-12-06, 2 CPUs, fractions 0.01562, 0.03125, 0.0625",
    ),
    # The decoders (kinds ridge_decoder and fmri_mlp, rule evaluate_decoder), measured by the scale
    # harness (benchmarks/scale_decoding.py) on config/bold5000.yaml: CSI1–4, 18,870 trials ×
    # 20,484 fsaverage5 vertices × 4 TRs float32 = 6,185 MB of windows, 1,536-d DINOv2-giant
    # targets, 1,615 test trials (529 MB) in the evaluation. fit_fmri_mlp holds every trial's
    # window in one float32 array (~1.1 MB per MB); fixed: 5.2 M parameters × 4 B × 8 copies and
    # the targets. fit_ridge_decoder holds the train trials flattened (1 MB per MB); fixed: the
    # randomized PCA's work arrays, 3 × values × (k + 20) float64. evaluate_decoder: the test
    # trials and the model folder (ridge_decoder's PCA, 500 × 81,936 float32).
    "fit_fmri_mlp/cpu": JobModel(
        unit="every subject's windows (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(6184.52928, 59665961.7792, 282.812576),
        mem_base_mb=849,
        mem_mb_per_unit=1.07488,
        seconds_base=38.3,
        seconds_per_work=7.71606e-06,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125",
    ),
    "fit_fmri_mlp/cuda": JobModel(
        unit="every subject's windows (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(83.902464, 59665961.7792, 282.812576),  # the host holds one read block
        mem_base_mb=1849,
        mem_mb_per_unit=1.07488,
        seconds_base=38.3,
        seconds_per_work=5.82453e-07,
        source=(
            "GPU estimate (training MFLOP at half of 50 TFLOP/s plus the CPU's other time; the "
            "host holds one read block of windows, the GPU the rest), memory 2026-12-06, 2 CPUs, "
            "fractions 0.0625, 0.125"
        ),
    ),
    # fit_fmri_linear: fmri_mlp's job with the linear network (no blocks; the same windows in
    # memory, nearly the same MFLOP), measured by its own scale case beside fit_fmri_mlp's
    "fit_fmri_linear/cpu": JobModel(
        unit="every subject's windows (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(6184.52928, 59072362.9056, 281.739424),
        mem_base_mb=863,
        mem_mb_per_unit=1.04818,
        seconds_base=49.3,
        seconds_per_work=6.37382e-06,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125",
    ),
    "fit_fmri_linear/cuda": JobModel(
        unit="every subject's windows (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(83.902464, 59072362.9056, 281.739424),  # the host holds one read block
        mem_base_mb=1863,
        mem_mb_per_unit=1.04818,
        seconds_base=49.3,
        seconds_per_work=7.04153e-07,
        source=(
            "GPU estimate (training MFLOP at half of 50 TFLOP/s plus the CPU's other time; the "
            "host holds one read block of windows, the GPU the rest), memory 2026-12-06, 2 CPUs, "
            "fractions 0.0625, 0.125"
        ),
    ),
    "fit_ridge_decoder/cpu": JobModel(
        unit="every subject's trials (MB)",
        work_unit="every subject's trials (MB)",
        real=Size(6184.52928, 6184.52928, 1022.56128),
        mem_base_mb=0,
        mem_mb_per_unit=0.960444,
        seconds_base=5.2,
        seconds_per_work=0.0127133,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125",
    ),
    "evaluate_decoder/cpu": JobModel(
        unit="test trials (MB)",
        work_unit="test trials (MB)",
        real=Size(529.30656, 529.30656, 166.950144),
        mem_base_mb=770,
        mem_mb_per_unit=1.41782,
        seconds_base=4.6,
        seconds_per_work=0.00307697,
        source="measured 2026-12-06, 2 CPUs, fractions 0.0625, 0.125",
    ),
    # MEG/EEG decoding (rule meeg_decoding_windows, kind simple_conv), measured by the scale
    # harness (benchmarks/scale_meeg.py) on THINGS-EEG2 as config/things_eeg_decoding.yaml builds
    # it. meeg_decoding_windows holds one recording: MNE's float64 copy of it (EEG: the session
    # dict's array, the .npy's size), the filters' work, the 120 Hz copy, its robust-scaled copy
    # and the recording's windows (staged to disk until the store is written). Real size:
    # THINGS-EEG2 subject 1 (largest partition 1,797 MB, all 8,934 MB, as preprocess_eeg_subject).
    "meeg_decoding_windows/eeg": JobModel(
        unit="largest raw partition (MB)",
        work_unit="all raw partitions (MB)",
        real=Size(1797.3248, 8934.1952, 0.0),
        mem_base_mb=290,
        mem_mb_per_unit=3.23423,
        seconds_base=4.9,
        seconds_per_work=0.0150568,
        source="measured 2026-12-06, 2 CPUs, fractions 0.125, 0.25",
    ),
    # THINGS-MEG1 decoding from the raw CTF runs: NOT MEASURED (no real configuration builds it;
    # the harness writes no CTF runs at scale). The EEG row scaled for CTF's int32 samples read
    # as float64 (twice the .meg4's size); real size estimated from the design (a run ≈ 272
    # channels × 1200 Hz × 420 s int32 ≈ 550 MB; 12 sessions × 10 runs ≈ 66,000 MB).
    "meeg_decoding_windows/meg": JobModel(
        unit="largest recording (MB)",
        work_unit="every recording (MB)",
        real=Size(550.0, 66000.0, 0.0),
        mem_base_mb=500,
        mem_mb_per_unit=6.5,
        seconds_base=10.0,
        seconds_per_work=0.03,
        source="the EEG row scaled for int32 files (a guess, not measured on MEG)",
    ),
    # fit_simple_conv: the train + validation windows held once as one float32 array on the CPU
    # (one read block on a GPU host), fixed: parameters × 8 copies and the targets; work: 6 FLOP
    # per multiply-add of the forward pass (simple_conv_work) × trials × max_epochs. Measured
    # at full width (neuralbench's 4.96 M parameters) over 8 training steps per point, the time
    # projected to 40 epochs of every batch; the GPU row's time from the FLOPs at half of 50
    # TFLOP/s. Real size: THINGS-EEG2's 10 subjects pooled as neuralbench trains them (10 ×
    # (66,160 + 16,000) windows of 63 × 120: 24,845 MB; 661,600 train + validation targets of
    # 1,536 dims).
    "fit_simple_conv/cpu": JobModel(
        unit="every subject's windows (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(24845.184, 86339323819.008, 5206.588768),
        mem_base_mb=1141,
        mem_mb_per_unit=0.713114,
        seconds_base=0.0,
        seconds_per_work=5.70051e-06,
        source="measured 2026-12-06, 2 CPUs, fractions 0.01562, 0.03125",
    ),
    "fit_simple_conv/cuda": JobModel(
        unit="every subject's windows (MB)",
        work_unit="training MFLOP (every epoch)",
        real=Size(7.74144, 86339323819.008, 5206.588768),
        mem_base_mb=2141,
        mem_mb_per_unit=0.713114,
        seconds_base=0.0,
        seconds_per_work=4.4369e-08,
        source="GPU estimate (training MFLOP at half of 50 TFLOP/s plus the CPU's other time; "
        "the host holds one read block of windows and the targets, the GPU the rest), memory "
        "2026-12-06, 2 CPUs, fractions 0.01562, 0.03125",
    ),
}


def coefficients(key: str) -> JobModel:
    """The row ``key`` of :data:`COEFFICIENTS` (a KeyError names the known rows)."""
    if key not in COEFFICIENTS:
        raise KeyError(f"no measured resources for {key!r}; known: {sorted(COEFFICIENTS)}")
    return COEFFICIENTS[key]


# --------------------------------------------------------------------------------- sizing


class MissingInputError(Exception):
    """An input the size is read from does not exist yet (Snakemake is still planning)."""


def _path(value: Any) -> Path:
    path = Path(str(value))
    if not path.exists():
        raise MissingInputError(str(path))
    return path


def file_mb(path: Any) -> float:
    """Size of a file in MB."""
    return _path(path).stat().st_size / MB


def stored_mb(folder: Any) -> float:
    """Bytes stored under a folder (a Zarr store: only the chunks written), in MB."""
    total, stack = 0, [str(_path(folder))]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
    return total / MB


def array_shape(store: Any, name: str) -> tuple[int, ...]:
    """Shape of the Zarr v3 array ``name`` of a store, from its ``zarr.json`` (no data read)."""
    meta = _path(Path(str(store)) / name / "zarr.json")
    return tuple(int(n) for n in json.loads(meta.read_text())["shape"])


def array_mb(store: Any, name: str, itemsize: int = 4) -> float:
    """Uncompressed size of the array ``name`` of a store, in MB."""
    return math.prod(array_shape(store, name)) * itemsize / MB


def feature_matrix(manifest: Any) -> tuple[int, int, int]:
    """(rows, features, bytes per value) of a ``features.json`` manifest."""
    found = json.loads(_path(manifest).read_text())
    rows, n_features = (int(n) for n in found["shape"])
    return rows, n_features, 2 if found.get("dtype") == "float16" else 4


def epochs_files(main: Any) -> list[Path]:
    """A FIF epochs file and the split parts MNE writes beside it (``…-epo-1.fif``, …)."""
    path = _path(main)
    return sorted(path.parent.glob(path.name.replace("-epo.fif", "-epo*.fif"))) or [path]


def _setting(config: dict, dataset: str, kind: str, key: str, default: Any) -> Any:
    from bergforge.workflow.models import kind_settings

    return kind_settings(config, dataset, kind).get(key, default)


def _device(config: dict, dpath: str) -> str:
    node: Any = config
    for key in dpath.split("/"):
        node = node.get(key) if isinstance(node, dict) else None
    return "cuda" if node == "cuda" else "cpu"


# Each sizing function takes (config, wildcards, input) and returns a Size; MissingInputError when an
# input is not there yet.


def _size_meg_epochs(config, wildcards, input) -> Size:
    mb = sum(p.stat().st_size for p in epochs_files(input.epochs)) / MB
    return Size(mb, mb)


def _size_eeg_raw(config, wildcards, input) -> Size:
    files = sorted(_path(input.raw).glob("ses-*/raw_eeg_*.npy"))
    if not files:
        raise MissingInputError(str(input.raw))
    sizes = [p.stat().st_size / MB for p in files]
    return Size(max(sizes), sum(sizes))  # one partition is in memory at a time


#: what a fsnative run file of BOLD5000 is called (one hemisphere: ``….L.func.gii``, ``….R.func.gii``)
SURFACE_RUN_SUFFIXES = (".L.func.gii", ".R.func.gii")


def surface_runs_mb(input: Any) -> list[float]:
    """MB of each run (both hemispheres' ``func.gii``) of a BOLD5000 subject: from the download's
    manifest (``path``/``bytes`` of every file) or the files under the simulator's ``runs``."""
    try:
        manifest = input["manifest"]  # Snakemake's InputFiles are indexed by name too
    except (KeyError, AttributeError, IndexError):
        manifest = None  # the simulator's route: the run files themselves
    sizes: dict[str, float] = {}
    if manifest is not None:
        with open(_path(manifest)) as fh:
            header = fh.readline().rstrip("\n").split("\t")
            at_path, at_bytes = header.index("path"), header.index("bytes")
            files = [
                (parts[at_path], int(parts[at_bytes]))
                for parts in (line.rstrip("\n").split("\t") for line in fh if line.strip())
            ]
    else:
        files = [(str(p), p.stat().st_size) for p in _path(input.runs).rglob("*.func.gii")]
    for name, size in files:
        for suffix in SURFACE_RUN_SUFFIXES:
            if name.endswith(suffix):
                stem = name[: -len(suffix)]
                sizes[stem] = sizes.get(stem, 0.0) + size / MB
    if not sizes:
        raise MissingInputError(str(manifest or input.runs))
    return list(sizes.values())


def _size_bold5000_windows(config, wildcards, input) -> Size:
    runs = surface_runs_mb(input)
    return Size(max(runs), sum(runs))  # one run is in memory at a time


def _size_betas(name: str) -> Callable:
    def size(config, wildcards, input) -> Size:
        mb = file_mb(input[name])  # Snakemake's InputFiles are indexed by name too
        return Size(mb, mb)

    return size


def _size_shard(config, wildcards, input) -> Size:
    from bergforge.features.plan import shard_rows

    with open(_path(input.stimuli)) as fh:
        n_images = sum(1 for _ in fh) - 1
    shard_size = int((config.get("features") or {}).get("shard_size", 1000))
    rows = shard_rows(int(wildcards.shard), int(wildcards.n_shards), n_images, shard_size)
    return Size(len(rows), len(rows))


def _pca_width_mb(config, dataset: str, n_features: int) -> float:
    """The PCA's arrays that scale with the feature count: Bᵀ (p × (k + oversampling)) and
    ``components_`` (k × p), float32, plus the scaler's statistics (float64)."""
    k = int(_setting(config, dataset, "linear", "n_components", 250))
    pca = _setting(config, dataset, "linear", "pca", {}) or {}
    oversampling = int(pca.get("oversampling", 20))
    return n_features * (4 * (2 * k + oversampling) + 8 * 4) / MB


def _size_fit_linear(config, wildcards, input) -> Size:
    rows, n_features, itemsize = feature_matrix(input.features)
    mb = rows * n_features * itemsize / MB
    return Size(mb, mb, _pca_width_mb(config, wildcards.dataset, n_features))


def mlp_size(
    n_images: int,
    n_targets: int,
    rows: int,
    n_features: int,
    itemsize: int,
    settings: dict,
    device: str,
) -> Size:
    """Size of an ``mlp`` fit job: ``units`` = its repetition-averaged training targets held in
    memory (float32 MB), ``fixed_mb`` = the input side (the split's PCA as ``fit_linear`` streams
    it, with fit_linear/meg's measured MB per feature-matrix MB, or the raw feature rows) plus the
    network on the host: on the CPU its parameters, gradients, AdamW's two moments and the best
    copy, and the checkpoint's copy of four of them while it is written (9 × parameters); on a
    GPU only the checkpoint's (8 ×); ``work`` = MFLOP of training every epoch of ``max_epochs``
    (6 × parameters per image)."""
    from bergforge.models.mlp.settings import MlpConfig

    cfg = MlpConfig.from_settings({k: v for k, v in settings.items() if k != "device"})
    params = _trunk_params(cfg, n_features) + cfg.hidden * n_targets + n_targets
    inputs_mb = _network_inputs_mb(cfg, n_images, rows, n_features, itemsize)
    network_mb = (9 if device == "cpu" else 8) * params * 4 / MB
    work = cfg.max_epochs * n_images * 6 * params / 1e6
    return Size(n_images * n_targets * 4 / MB, work, inputs_mb + network_mb)


def _trunk_params(cfg: Any, n_features: int) -> int:
    """Parameters of the hidden layers of an ``mlp``/``shared`` network."""
    n_in = cfg.n_components if cfg.input == "pca" else n_features
    return n_in * cfg.hidden + (cfg.depth - 1) * cfg.hidden**2 + cfg.depth * cfg.hidden


def _network_inputs_mb(cfg: Any, n_images: int, rows: int, n_features: int, itemsize: int) -> float:
    """The input side of an ``mlp``/``shared`` fit: the PCA as ``fit_linear`` streams it (with
    fit_linear/meg's measured MB per feature-matrix MB), or the raw feature rows."""
    if cfg.input == "pca":
        pca = {"oversampling": 20, **cfg.pca}
        width = n_features * (4 * (2 * cfg.n_components + int(pca["oversampling"])) + 8 * 4)
        return width / MB + COEFFICIENTS["fit_linear/meg"].mem_mb_per_unit * (
            rows * n_features * itemsize / MB
        )
    return 2 * n_images * n_features * 4 / MB


def shared_size(
    images: list[int],
    targets: list[int],
    rows: int,
    n_features: int,
    itemsize: int,
    settings: dict,
    device: str,
    unseen: bool = False,
) -> Size:
    """Size of a ``shared`` fit job (subjects with ``images[i]`` training images and
    ``targets[i]`` targets; the trunk's input is the union of their images, at most
    ``max(images)``): ``units`` = every subject's training targets in memory (float32 MB),
    ``fixed_mb`` = the input side (as :func:`mlp_size`) plus the network (trunk and every adapter)
    on the host as :func:`mlp_size` counts it, ``work`` = MFLOP of every epoch (6 × the trunk's
    and the subject's adapter's parameters per sample). ``unseen``: the held-out subject's job
    (bergforge.models.shared.unseen) trains on all but one subject, sized here as on all, plus
    its mean adapter in float64 (twice: the few-shot copy)."""
    from bergforge.models.shared.settings import SharedConfig

    cfg = SharedConfig.from_settings({k: v for k, v in settings.items() if k != "device"})
    trunk = _trunk_params(cfg, n_features)
    params = trunk + sum(cfg.hidden * t + t for t in targets)
    union = max(images, default=0)
    inputs_mb = _network_inputs_mb(cfg, union, rows, n_features, itemsize)
    network_mb = (9 if device == "cpu" else 8) * params * 4 / MB
    per_epoch = sum(
        n * 6 * (trunk + cfg.hidden * t + t) for n, t in zip(images, targets, strict=True)
    )
    units = sum(n * t for n, t in zip(images, targets, strict=True)) * 4 / MB
    extra = 2 * 8 * cfg.hidden * max(targets, default=0) / MB if unseen else 0.0
    return Size(units, cfg.max_epochs * per_epoch / 1e6, inputs_mb + network_mb + extra)


def _size_fit_mlp(config, wildcards, input) -> Size:
    from bergforge.workflow.models import kind_settings

    rows, n_features, itemsize = feature_matrix(input.features)
    shape = array_shape(list(input.prepared)[0], "train")
    settings = kind_settings(config, wildcards.dataset, "mlp")
    device = _kind_device(config, wildcards.dataset, "mlp")
    return mlp_size(shape[0], math.prod(shape[2:]), rows, n_features, itemsize, settings, device)


def _size_shared(unseen: bool) -> Callable:
    """Sizing of ``fit_shared`` and ``evaluate_unseen`` (the ``shared`` kind) from every subject's
    prepared store and the features."""

    def size(config, wildcards, input) -> Size:
        from bergforge.workflow.models import kind_of_model, kind_settings

        entry = kind_of_model(config, wildcards.dataset, wildcards.model)
        rows, n_features, itemsize = feature_matrix(input.features)
        shapes = [array_shape(p, "train") for p in input.prepared]
        settings = kind_settings(config, wildcards.dataset, entry.kind)
        device = _kind_device(config, wildcards.dataset, entry.kind)
        images = [shape[0] for shape in shapes]
        targets = [math.prod(shape[2:]) for shape in shapes]
        return shared_size(images, targets, rows, n_features, itemsize, settings, device, unseen)

    return size


def _components_mb(config, dataset: str, input) -> float:
    """``components_`` of every split model the job loads at once (k × p float32 each)."""
    _, n_features, _ = feature_matrix(input.features)
    k = int(_setting(config, dataset, "linear", "n_components", 250))
    return len(input.models) * k * n_features * 4 / MB


def _size_evaluate(config, wildcards, input) -> Size:
    if input.get("features"):  # a kind reading features: the test responses and the models
        mb = array_mb(input.prepared, "test")
        return Size(mb, mb, _components_mb(config, wildcards.dataset, input))
    # an image kind: the subject's own rows, streamed for the noise ceilings; fixed: the test
    # images' predictions (their batches and the concatenation) and repetition means, float32
    mb = stored_mb(input.prepared)
    n_test, _, n_vertices = array_shape(input.prepared, "test")
    return Size(mb, mb, 16 * n_test * n_vertices / MB)


def _size_export(config, wildcards, input) -> Size:
    mb = array_mb(input.prepared, "test")
    dataset = Path(str(input.stimuli)).parent.name  # results/prepared/{dataset}/stimuli.tsv
    return Size(mb, mb, _components_mb(config, dataset, input))


def _size_summary(config, wildcards, input) -> Size:
    mb = file_mb(input.evaluation)
    return Size(mb, mb)


def _trial_stores_mb(stores: Any) -> float:
    """Every trial of trial-indexed stores (``data`` ``[trial, *targets]`` float32), in MB."""
    return sum(array_mb(p, "data") for p in stores)


def fmri_mlp_work(
    n_trials: int,
    n_vertices: int,
    n_dims: int,
    settings: dict,
    n_subjects: int = 1,
    kind: str = "fmri_mlp",
) -> tuple[float, int]:
    """(training MFLOP over every epoch, parameters) of an ``fmri_mlp`` (or ``fmri_linear``: no
    blocks) fit of ``n_trials`` (with ``subject_layers``: one Linear(vertices → hidden) per
    subject before a hidden → hidden ``lin0``)."""
    from bergforge.models.decoding.settings import FMRI_DECODER_CONFIGS

    cfg = FMRI_DECODER_CONFIGS[kind].from_settings(settings)
    h, t = cfg.hidden, cfg.n_trs
    first = h if cfg.subject_layers else n_vertices  # lin0's input width
    macs = n_vertices * h * t + cfg.n_blocks * h * h * t + h * n_dims + n_dims * n_dims
    params = (first + 3) * h + cfg.n_blocks * (h * h + 3 * h) + t + 1
    params += (h + 1) * n_dims + (n_dims + 1) * n_dims
    if cfg.subject_layers:
        macs += h * h * t  # lin0 after the subject's layer
        params += n_subjects * (n_vertices + 1) * h
    return cfg.max_epochs * n_trials * 6 * macs / 1e6, params


def host_windows_mb(
    config: dict, wildcards: Any, kind: str, shapes: list[tuple[int, ...]]
) -> float:
    """MB of a decoder's float32 windows on the host, from the stores' ``data`` shapes: every
    subject's trials on the CPU; on a GPU one read block (the fit fills the device tensor block
    by block, :meth:`bergforge.models.decoding.data.PooledTrials.read_onto`)."""
    from bergforge.models.decoding.data import READ_BLOCK

    mb = sum(math.prod(shape) for shape in shapes) * 4 / MB
    if _kind_device(config, wildcards.dataset, kind) != "cuda":
        return mb
    n_trials = sum(shape[0] for shape in shapes)
    return min(mb, READ_BLOCK * mb / max(n_trials, 1))


def _size_fit_fmri(kind: str) -> Callable[..., Size]:
    """The size of a fit of ``kind`` (``fmri_mlp`` or ``fmri_linear``): its windows on the host,
    its training MFLOP, its parameters (× 8: weights, gradients, AdamW's moments, the best
    checkpoint and its copy) and the targets."""

    def size(config, wildcards, input) -> Size:
        from bergforge.workflow.models import kind_settings

        shapes = [array_shape(p, "data") for p in input.prepared]
        _, n_dims, _ = feature_matrix(input.features)
        n_trials = sum(shape[0] for shape in shapes)
        settings = kind_settings(config, wildcards.dataset, kind)
        work, params = fmri_mlp_work(n_trials, shapes[0][1], n_dims, settings, len(shapes), kind)
        fixed = (8 * params + n_trials * n_dims) * 4 / MB
        return Size(host_windows_mb(config, wildcards, kind, shapes), work, fixed)

    return size


def recording_sizes(raw: Any) -> list[float]:
    """MB of each recording under a subject's raw folder: a THINGS-EEG2 partition
    (``raw_eeg_*.npy``), a CTF run (the files of a ``*.ds`` folder) or a FIF run."""
    root = _path(raw)
    sizes = [p.stat().st_size / MB for p in root.rglob("raw_eeg_*.npy")]
    sizes += [p.stat().st_size / MB for p in root.rglob("*.fif")]
    for ds in root.rglob("*.ds"):
        if ds.is_dir():
            sizes.append(sum(f.stat().st_size for f in ds.rglob("*") if f.is_file()) / MB)
    if not sizes:
        raise MissingInputError(str(root))
    return sizes


def _size_meeg_recordings(config, wildcards, input) -> Size:
    sizes = recording_sizes(input.raw)
    return Size(max(sizes), sum(sizes))  # one recording in memory at a time


def simple_conv_work(
    n_trials: int, n_channels: int, n_times: int, n_dims: int, settings: dict
) -> tuple[float, int]:
    """(training MFLOP over every epoch, parameters) of a ``simple_conv`` fit of ``n_trials``
    windows (channels × times) to ``n_dims`` targets (3-D sensor positions: the larger size)."""
    from bergforge.models.decoding.simple_conv_settings import SimpleConvConfig

    cfg = SimpleConvConfig.from_settings(settings)
    t, v = n_times, cfg.n_virtual
    params = v * 2 * cfg.n_freqs**3 + (v + 1) * cfg.initial_linear
    macs = v * n_channels * t + v * cfg.initial_linear * t
    sizes = [cfg.initial_linear] + [cfg.hidden] * (cfg.depth - 1) + [cfg.backbone_out]
    for k in range(cfg.depth):
        c_in, c_out = sizes[k], sizes[k + 1]
        params += c_in * c_out * cfg.kernel + c_out + (2 * c_out if k < cfg.depth - 1 else 0)
        macs += c_in * c_out * cfg.kernel * t
        if (k + 1) % cfg.glu_every == 0:
            gate = c_out * 2 * c_out * (1 + 2 * cfg.glu_context)
            params += gate + 2 * c_out
            macs += gate * t
    params += (t + 1 if cfg.time_agg == "linear" else 0) + (cfg.backbone_out + 1) * n_dims
    macs += cfg.backbone_out * n_dims
    return cfg.max_epochs * n_trials * 6 * macs / 1e6, params


def _size_fit_simple_conv(config, wildcards, input) -> Size:
    from bergforge.workflow.models import kind_settings

    shapes = [array_shape(p, "data") for p in input.prepared]
    _, n_dims, _ = feature_matrix(input.features)
    n_trials = sum(shape[0] for shape in shapes)
    settings = kind_settings(config, wildcards.dataset, "simple_conv")
    work, params = simple_conv_work(n_trials, shapes[0][1], shapes[0][2], n_dims, settings)
    fixed = (8 * params + n_trials * n_dims) * 4 / MB
    return Size(host_windows_mb(config, wildcards, "simple_conv", shapes), work, fixed)


def _size_fit_ridge_decoder(config, wildcards, input) -> Size:
    mb = _trial_stores_mb(input.prepared)
    values = math.prod(array_shape(list(input.prepared)[0], "data")[1:])
    k = int(_setting(config, wildcards.dataset, "ridge_decoder", "n_components", 500))
    return Size(mb, mb, 3 * values * (k + 20) * 8 / MB)


def test_trials_mb(store: Any) -> float:
    """The ``test`` trials of a trial-indexed store, in MB (its trial table's split column, read
    by the store's reader)."""
    shape = array_shape(store, "data")  # MissingInputError while the store is not there
    from bergforge.preprocess.trial_responses import PreparedTrials  # Zarr: once a store is read

    n_test = PreparedTrials(_path(store)).split_trials("test").size
    return n_test * math.prod(shape[1:]) * 4 / MB


def _size_evaluate_decoder(config, wildcards, input) -> Size:
    mb = sum(test_trials_mb(p) for p in input.prepared)
    return Size(mb, mb, stored_mb(Path(str(input.model)).parent))


def cnn8_size(n_vertices: list[int], n_images: int, settings: dict, device: str) -> Size:
    """Size of a CNN8 training job: ``units`` = one batch's activations (MB, on the host only
    when training on the CPU), ``fixed_mb`` = parameters, gradients and Adam's two moments (on
    the host only on the CPU; a GPU job's host holds one copy of the weights while it saves
    them), ``work`` = image-epochs (worst case: every epoch of ``max_epochs``)."""
    from bergforge.models.cnn8.settings import TrainConfig
    from bergforge.models.cnn8.shapes import activation_floats, parameter_count

    cfg = {**TrainConfig().__dict__, **{k: v for k, v in settings.items() if k != "device"}}
    width, side, batch = int(cfg["width"]), int(cfg["input_size"]), int(cfg["batch_size"])
    params_mb = parameter_count(width, side, n_vertices) * 4 / MB
    on_host = device == "cpu"
    per_image = activation_floats(width, side, max(n_vertices, default=0))
    activations_mb = batch * per_image * 4 / MB if on_host else 0.0
    fixed = 4 * params_mb if on_host else params_mb
    return Size(activations_mb, float(n_images) * int(cfg["max_epochs"]), fixed)


def own_images(store: Any, split: str = "train") -> int:
    """Images of ``split`` a subject saw (rows of ``{split}_session`` with a session ≥ 0)."""
    import numpy as np

    from bergforge.preprocess.responses import PreparedResponses

    sessions = np.asarray(PreparedResponses(_path(store)).read(f"{split}_session"))
    return int((sessions >= 0).any(axis=1).sum())


def _size_fit_cnn8(config, wildcards, input) -> Size:
    stores = list(input.prepared)
    vertices = [array_shape(s, "test")[2] for s in stores]
    images = sum(own_images(s) for s in stores)
    settings = _cnn8_settings(config, wildcards.dataset)
    return cnn8_size(vertices, images, settings, _cnn8_device(config, wildcards.dataset))


def _cnn8_settings(config: dict, dataset: str) -> dict:
    from bergforge.workflow.models import kind_settings

    return kind_settings(config, dataset, "cnn8")


def _cnn8_device(config: dict, dataset: str) -> str:
    return _kind_device(config, dataset, "cnn8")


def _kind_device(config: dict, dataset: str, kind: str) -> str:
    """``cuda`` when the kind's runtime ``device`` says so, else ``cpu`` (``auto`` is sized as
    the CPU, the larger host memory and the longer time)."""
    from bergforge.workflow.models import kind_runtime

    return "cuda" if kind_runtime(config, dataset, kind).get("device") == "cuda" else "cpu"


# ------------------------------------------------------------------------ free viewing

#: the gradiometers of a free-viewing store (AVS's TRIUX planar gradiometers)
AVS_CHANNELS = 204


def _fv_settings(config: dict, wildcards: Any):
    from bergforge.workflow.free_viewing import settings

    return settings(config, wildcards.dataset)


def _size_fixation_epochs(config, wildcards, input) -> Size:
    """The epochs written (MB, float32): ``fixations × 204 × samples`` from the table's rows."""
    fv = _fv_settings(config, wildcards)
    table = _path(fv.raw_file("table", int(wildcards.subject)))
    with open(table) as fh:
        n = sum(1 for _ in fh) - 1
    tmin, tmax = float(fv.epochs.get("tmin", -0.1)), float(fv.epochs.get("tmax", 0.5))
    mb = n * AVS_CHANNELS * (round((tmax - tmin) * 500) + 1) * 4 / MB
    return Size(mb, mb)


def _size_fixation_features(config, wildcards, input) -> Size:
    """Memory: the subject's distinct scenes in memory (MB of uint8; the job reads only the
    scenes its table shows, not the whole ``imgBrick``; the crop route makes its 224-px crops
    ``CROP_CHUNK`` fixations at a time, a fixed ~150 MB in the row's base); work: the subject's
    fixations."""
    import h5py
    import pandas as pd

    fv = _fv_settings(config, wildcards)
    path = _path(fv.raw_file("table", int(wildcards.subject)))
    spec = fv.table
    if spec is None:  # the simulated study's mapping
        spec = json.loads(_path(input.study).read_text())["fixation_table"]
    sep = spec.get("sep") or ("\t" if path.suffix.lower() == ".tsv" else ",")
    scene = spec["columns"]["scene"]
    try:
        table = pd.read_csv(path, sep=sep, usecols=[scene])
    except (ValueError, pd.errors.ParserError) as err:  # the job gives the clear error
        raise MissingInputError(f"{path}: not readable as the mapped fixation table") from err
    with h5py.File(_path(fv.raw_file("stimuli")), "r") as f:
        shape = f["imgBrick"].shape
    mb = table[scene].nunique() * math.prod(shape[1:]) / MB
    return Size(mb, float(len(table)))


def _size_fit_fixation_model(config, wildcards, input) -> Size:
    """Training fixations × (features + targets) as float32 (MB); work: the same."""
    fv = _fv_settings(config, wildcards)
    mb = 0.0
    for features in input.features:
        n, width = array_shape(features, "features")
        mb += n * (width + AVS_CHANNELS * len(fv.times)) * 4 / MB
    return Size(mb, mb)


def _size_fixation_subject(config, wildcards, input) -> Size:
    """One subject's fixations × (features + targets) as float32 (MB)."""
    fv = _fv_settings(config, wildcards)
    n, width = array_shape(input.features, "features")
    mb = n * (width + AVS_CHANNELS * len(fv.times)) * 4 / MB
    return Size(mb, mb)


def _fixation_kind_variant(config: dict, wildcards: Any) -> str:
    """``ridge_cv``, ``shared``, or ``shared_cuda`` where ``free_viewing.kinds.shared.device`` is
    ``cuda`` (``auto`` is sized as the CPU); a seed's model is sized as its kind."""
    from bergforge.workflow.free_viewing import kind_device, kind_of

    kind = kind_of(str(wildcards.kind))
    on_gpu = kind == "shared" and kind_device(config, wildcards.dataset, kind) == "cuda"
    return f"{kind}_cuda" if on_gpu else kind


# ------------------------------------------------------------------------ jobs and variants


def _modality(config: dict, wildcards: Any) -> str:
    from bergforge.datasets.formats import dataset_format

    return dataset_format(config, wildcards.dataset).modality


@dataclass(frozen=True)
class Job:
    """A rule's sizing function and how its variant (the row suffix) is chosen."""

    size: Callable[[dict, Any, Any], Size]
    variant: Callable[[dict, Any], str]
    fallback: str  # variant used when the table has no row for the chosen one


JOBS: dict[str, Job] = {
    "preprocess_meg_subject_from_epochs": Job(_size_meg_epochs, lambda c, w: "meg", "meg"),
    "preprocess_eeg_subject": Job(_size_eeg_raw, lambda c, w: "eeg", "eeg"),
    "fmri_mosaic_betas": Job(_size_betas("betas"), lambda c, w: "fmri", "fmri"),
    "fmri_prepare_subject": Job(_size_betas("betas"), lambda c, w: "fmri", "fmri"),
    "bold5000_windows": Job(_size_bold5000_windows, lambda c, w: "fmri", "fmri"),
    "extract_feature_shard": Job(_size_shard, lambda c, w: _device(c, "features/device"), "cpu"),
    "fit_linear": Job(_size_fit_linear, _modality, "meg"),
    "fit_cnn8": Job(_size_fit_cnn8, lambda c, w: _cnn8_device(c, w.dataset), "cpu"),
    "fit_mlp": Job(_size_fit_mlp, lambda c, w: _kind_device(c, w.dataset, "mlp"), "cpu"),
    "fit_shared": Job(
        _size_shared(False), lambda c, w: _kind_device(c, w.dataset, "shared"), "cpu"
    ),
    "evaluate_unseen": Job(
        _size_shared(True), lambda c, w: _kind_device(c, w.dataset, "shared"), "cpu"
    ),
    "fit_fmri_mlp": Job(
        _size_fit_fmri("fmri_mlp"), lambda c, w: _kind_device(c, w.dataset, "fmri_mlp"), "cpu"
    ),
    "fit_fmri_linear": Job(
        _size_fit_fmri("fmri_linear"), lambda c, w: _kind_device(c, w.dataset, "fmri_linear"), "cpu"
    ),
    "fit_ridge_decoder": Job(_size_fit_ridge_decoder, lambda c, w: "cpu", "cpu"),
    "meeg_decoding_windows": Job(_size_meeg_recordings, _modality, "eeg"),
    "fit_simple_conv": Job(
        _size_fit_simple_conv, lambda c, w: _kind_device(c, w.dataset, "simple_conv"), "cpu"
    ),
    "evaluate_decoder": Job(_size_evaluate_decoder, lambda c, w: "cpu", "cpu"),
    "evaluate_subject": Job(_size_evaluate, _modality, "meg"),
    "export_meg_subject": Job(_size_export, lambda c, w: "meg", "meg"),
    "export_eeg_subject": Job(_size_export, lambda c, w: "eeg", "eeg"),
    "summary_section": Job(_size_summary, _modality, "meg"),
    "fixation_epochs": Job(_size_fixation_epochs, lambda c, w: "meg", "meg"),
    "fixation_features": Job(_size_fixation_features, lambda c, w: w.route, "crops"),
    "fit_fixation_model": Job(_size_fit_fixation_model, _fixation_kind_variant, "ridge_cv"),
    "evaluate_fixations": Job(_size_fixation_subject, lambda c, w: "meg", "meg"),
    "challenge_outputs": Job(_size_fixation_subject, lambda c, w: "meg", "meg"),
}


def job_model(config: dict, job: str, wildcards: Any) -> JobModel:
    """The coefficient row of one job of rule ``job``."""
    spec = JOBS[job]
    variant = spec.variant(config, wildcards)
    key = f"{job}/{variant}"
    return COEFFICIENTS.get(key) or coefficients(f"{job}/{spec.fallback}")


def job_size(config: dict, job: str, wildcards: Any, input: Any) -> Size:
    """The size of one job from its inputs; the real dataset's size while they do not exist."""
    try:
        return JOBS[job].size(config, wildcards, input)
    except (MissingInputError, FileNotFoundError):
        return job_model(config, job, wildcards).real


def predicted(config: dict, job: str, wildcards: Any, input: Any) -> tuple[float, float]:
    """(peak MB, seconds) predicted for one job."""
    model = job_model(config, job, wildcards)
    size = job_size(config, job, wildcards, input)
    return model.peak_mb(size), model.seconds(size)


def _override(config: dict, dpath: str | None) -> int | None:
    if dpath is None:
        return None
    section, _, key = dpath.rpartition("/")
    value = runtime_settings(config, section).get(key)
    return None if value is None else int(value)


def sized_mem_mb(config: dict, job: str, override: str | None = None) -> Callable:
    """``resources: mem_mb`` of rule ``job``: from its input sizes, unless config sets
    ``override`` (a runtime key such as ``features/mem_mb``)."""

    def mem_mb(wildcards, input) -> int:
        fixed = _override(config, override)
        if fixed is not None:
            return fixed
        return declared_mem_mb(predicted(config, job, wildcards, input)[0])

    return mem_mb


def sized_runtime(config: dict, job: str) -> Callable:
    """``resources: runtime`` (minutes) of rule ``job``, from its input sizes."""

    def runtime(wildcards, input) -> int:
        return declared_runtime(predicted(config, job, wildcards, input)[1])

    return runtime


def fit_mem_mb(config: dict, kind: Any) -> Callable | int:
    """``mem_mb`` of the fit rule of ``kind``: sized where measured, else what the kind declares."""
    from bergforge.workflow.models import fit_resources

    job = f"fit_{kind.name}"
    return sized_mem_mb(config, job) if job in JOBS else fit_resources(kind)["mem_mb"]


def fit_runtime(config: dict, kind: Any) -> Callable | int:
    """``runtime`` of the fit rule of ``kind``: sized where measured, else the kind's own."""
    from bergforge.workflow.models import fit_resources

    job = f"fit_{kind.name}"
    return sized_runtime(config, job) if job in JOBS else fit_resources(kind)["runtime"]
