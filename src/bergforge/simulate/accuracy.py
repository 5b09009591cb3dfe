"""How close a simulated study's encoding models come to the simulator's truth.

For every MEG/EEG subject with a ``ground_truth/…_truth.npz`` and an evaluation, the targets with
a real signal (analytic noise ceiling above a threshold, in percent) are matched by channel name
and time, and the median percent of noise ceiling of each split is reported next to the median
estimated and analytic noise ceilings. Only simulated (demo) studies have a ground truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bergforge.errors import DataError
from bergforge.evaluation.files import read_evaluation
from bergforge.preprocess.responses import PreparedResponses
from bergforge.simulate.truth import SubjectTruth

#: targets whose analytic noise ceiling (percent) exceeds this count as having a real signal
SIGNAL_THRESHOLD = 20.0


@dataclass(frozen=True)
class SubjectAccuracy:
    """One subject × backbone of a simulated study, against its ground truth."""

    dataset: str
    backbone: str
    subject: int
    n_signal: int  # targets with analytic NC above the threshold
    n_targets: int
    median_percent_nc: dict[str, float]  # split → median % NC over the signal targets
    median_nc_estimated: float  # over the signal targets
    median_nc_analytic: float


def truth_files(raw_dir: Path) -> dict[int, Path]:
    """Subject number → ``ground_truth/sub-…{n}_truth.npz`` (MEG ``BIGMEG{n}``, EEG ``{nn}``)."""
    found = {}
    for path in sorted((raw_dir / "ground_truth").glob("sub-*_truth.npz")):
        digits = re.search(r"(\d+)_truth\.npz$", path.name)
        if digits:
            found[int(digits.group(1))] = path
    return found


def subject_accuracy(
    evaluation: Path,
    truth: Path,
    prepared: Path,
    threshold: float = SIGNAL_THRESHOLD,
) -> tuple[int, int, dict[str, float], float, float]:
    """``(n_signal, n_targets, split → median % NC, median NC estimated, median NC analytic)``.

    Targets are aligned by the prepared store's channel names (the simulator may hold channels
    that preprocessing dropped) and by time, which must match the truth's.
    """
    attrs = PreparedResponses(prepared).attrs
    channels = [str(c) for c in attrs.get("channels", [])]
    model, arrays = SubjectTruth.load(truth)
    truth_channels = model.channels
    nc_true = np.asarray(arrays["noise_ceiling"], dtype=np.float64)
    truth_times = np.asarray(arrays["times"], dtype=np.float64)
    missing = sorted(set(channels) - set(truth_channels))
    if not channels or missing:
        raise DataError(
            f"{prepared}: channels {missing[:3] or '(none)'} are not in the ground truth {truth}"
        )
    times = np.asarray(attrs.get("times", []), dtype=np.float64)
    if times.shape != truth_times.shape or not np.allclose(times, truth_times, atol=1e-9):
        raise DataError(
            f"{prepared}: {times.size} time points differ from the ground truth's "
            f"{truth_times.size} in {truth}; expected the same epoch and sampling rate"
        )
    nc_true = nc_true[[truth_channels.index(c) for c in channels]].ravel()
    ev = read_evaluation(evaluation, required=("splits", "percent_noise_ceiling", "noise_ceiling"))
    splits = [str(s) for s in ev["splits"]]
    pnc = np.asarray(ev["percent_noise_ceiling"], dtype=np.float64).reshape(len(splits), -1)
    nc_est = np.asarray(ev["noise_ceiling"], dtype=np.float64).ravel()
    if nc_est.size != nc_true.size:
        raise DataError(
            f"{evaluation} has {nc_est.size} targets; expected {nc_true.size} "
            f"({len(channels)} channels × {times.size} times)"
        )
    signal = nc_true > threshold
    if not signal.any():
        nan = float("nan")
        return 0, int(nc_true.size), dict.fromkeys(splits, nan), nan, nan
    medians = {s: float(np.nanmedian(p[signal])) for s, p in zip(splits, pnc, strict=True)}
    est, ana = float(np.nanmedian(nc_est[signal])), float(np.median(nc_true[signal]))
    return int(signal.sum()), int(nc_true.size), medians, est, ana


def study_accuracy(
    results: Path, raw: Path, threshold: float = SIGNAL_THRESHOLD
) -> list[SubjectAccuracy]:
    """Every evaluated subject of every simulated MEG/EEG study under ``raw`` and ``results``."""
    rows = []
    for raw_dir in sorted(p for p in raw.iterdir() if (p / "ground_truth").is_dir()):
        dataset = raw_dir.name
        truths = truth_files(raw_dir)
        for evaluation in sorted((results / "evaluation" / dataset).glob("*/sub-*/evaluation.npz")):
            subject = int(evaluation.parent.name.removeprefix("sub-"))
            prepared = results / "prepared" / dataset / f"sub-{subject:02d}.zarr"
            if subject not in truths or not prepared.is_dir():
                continue
            numbers = subject_accuracy(evaluation, truths[subject], prepared, threshold)
            rows.append(SubjectAccuracy(dataset, evaluation.parent.parent.name, subject, *numbers))
    return rows


def format_table(rows: list[SubjectAccuracy], threshold: float = SIGNAL_THRESHOLD) -> str:
    """A plain-text table of :func:`study_accuracy`'s rows."""
    if not rows:
        return "no evaluated subjects of a simulated study found"
    # every split any model has (a model without one shows nan there), first seen first
    splits = list(dict.fromkeys(s for r in rows for s in r.median_percent_nc))
    head = ["dataset", "model", "subject", "signal targets", "NC est.", "NC true"]
    head += [f"%NC {s}" for s in splits]
    table = [head]
    for r in rows:
        cells = [r.dataset, r.backbone, f"{r.subject}", f"{r.n_signal}/{r.n_targets}"]
        cells += [f"{r.median_nc_estimated:.1f}", f"{r.median_nc_analytic:.1f}"]
        cells += [f"{r.median_percent_nc.get(s, float('nan')):.1f}" for s in splits]
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [f"median over targets with analytic noise ceiling > {threshold:g} %"]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(lines)
