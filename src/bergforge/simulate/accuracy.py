"""How close a simulated study's encoding models come to the truth of its prepared data.

For every MEG/EEG subject with a prepared-data truth (``results/truth/{dataset}/sub-XX.npz``, see
:mod:`bergforge.simulate.prepared_truth`) and an evaluation, targets are matched by channel name
and time; the targets with a real signal (true noise ceiling above a threshold, in percent) give
the median percent of the *true* noise ceiling of each split, ``100 · max(r, 0)² / (NC/100)``,
next to the median estimated and true noise ceilings and the spread of their difference. Only
simulated (demo) studies have a truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bergforge.atomic import load_npz
from bergforge.errors import DataError
from bergforge.evaluation.files import read_evaluation
from bergforge.evaluation.metrics import percent_noise_ceiling
from bergforge.preprocess.responses import PreparedResponses

#: targets whose true noise ceiling (percent) exceeds this count as having a real signal
SIGNAL_THRESHOLD = 20.0


@dataclass(frozen=True)
class SubjectAccuracy:
    """One subject × model of a simulated study, against the truth of its prepared data."""

    dataset: str
    model: str
    subject: int
    n_signal: int  # targets with true NC above the threshold
    n_targets: int
    median_percent_nc: dict[str, float]  # split → median % of the true NC over the signal targets
    median_nc_estimated: float  # over the signal targets
    median_nc_true: float
    nc_difference: tuple[float, float, float]  # estimated − true: 25th, 50th, 75th percentile
    sampling_range: tuple[float, float]  # 5th–95th percentile of that median by sampling alone


def aligned_truth(
    truth: Path, prepared: Path, keys: tuple[str, ...] = ("noise_ceiling",)
) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of ``truth`` (each ``[..., channels, times]``) in the prepared store's
    channel order, from one read of each file.

    Targets are matched by channel name and time; a channel or time the truth lacks is an error."""
    arrays = load_npz(truth, required=["channels", "times", *keys])
    attrs = PreparedResponses(prepared).attrs
    channels = [str(c) for c in attrs.get("channels", [])]
    truth_channels = [str(c) for c in arrays["channels"]]
    missing = sorted(set(channels) - set(truth_channels))
    if not channels or missing:
        raise DataError(
            f"{prepared}: channels {missing[:3] or '(none)'} are not in the truth {truth}"
        )
    times = np.asarray(attrs.get("times", []), dtype=np.float64)
    truth_times = np.asarray(arrays["times"], dtype=np.float64)
    if times.shape != truth_times.shape or not np.allclose(times, truth_times, atol=1e-9):
        raise DataError(
            f"{prepared}: {times.size} time points differ from the truth's "
            f"{truth_times.size} in {truth}; expected the same epoch and sampling rate"
        )
    order = [truth_channels.index(c) for c in channels]
    return {k: np.asarray(arrays[k], dtype=np.float64)[..., order, :] for k in keys}


def subject_accuracy(
    evaluation: Path, truth: Path, prepared: Path, threshold: float = SIGNAL_THRESHOLD
):
    """``(n_signal, n_targets, split → median % true NC, median NC estimated, median NC true,
    (q25, median, q75) of estimated − true NC, (p5, p95) of that median over the truth's
    resampled pseudo-studies)`` over the targets whose true NC > ``threshold``."""
    keys = ("noise_ceiling", "resampled_difference", "resampled_true")
    aligned = aligned_truth(truth, prepared, keys)
    nc_true = aligned["noise_ceiling"].ravel()
    ev = read_evaluation(evaluation, required=("splits", "correlation", "noise_ceiling"))
    splits = [str(s) for s in ev["splits"]]
    corr = np.asarray(ev["correlation"], dtype=np.float64).reshape(len(splits), -1)
    nc_est = np.asarray(ev["noise_ceiling"], dtype=np.float64).ravel()
    if nc_est.size != nc_true.size:
        raise DataError(
            f"{evaluation} has {nc_est.size} targets; expected the truth's {nc_true.size} ({truth})"
        )
    signal = nc_true > threshold
    if not signal.any():
        nan = float("nan")
        return 0, int(nc_true.size), dict.fromkeys(splits, nan), nan, nan, (nan,) * 3, (nan,) * 2
    medians = {
        s: float(np.nanmedian(percent_noise_ceiling(r[signal], nc_true[signal])))
        for s, r in zip(splits, corr, strict=True)
    }
    diff = nc_est[signal] - nc_true[signal]
    q25, q50, q75 = (float(q) for q in np.nanpercentile(diff, [25, 50, 75]))
    by_chance = chance_medians(
        aligned["resampled_difference"], aligned["resampled_true"], threshold
    )
    p5, p95 = (float(q) for q in np.percentile(by_chance, [5, 95]))
    est, true = float(np.nanmedian(nc_est[signal])), float(np.median(nc_true[signal]))
    return int(signal.sum()), int(nc_true.size), medians, est, true, (q25, q50, q75), (p5, p95)


def chance_medians(difference: np.ndarray, true: np.ndarray, threshold: float) -> np.ndarray:
    """Per pseudo-study, the median of estimated − true noise ceiling over the targets whose
    truth *in that pseudo-study* exceeds ``threshold`` (as a study's targets are chosen by the
    truth it is compared with)."""
    difference = difference.reshape(difference.shape[0], -1)
    true = true.reshape(true.shape[0], -1)
    return np.array(
        [
            np.nanmedian(d[t > threshold]) if (t > threshold).any() else np.nan
            for d, t in zip(difference, true, strict=True)
        ]
    )


def study_accuracy(results: Path, threshold: float = SIGNAL_THRESHOLD) -> list[SubjectAccuracy]:
    """Every evaluated subject × model of every simulated MEG/EEG study with a truth under
    ``results/truth``."""
    rows = []
    truth_root = Path(results) / "truth"
    if not truth_root.is_dir():
        return rows
    for dataset_dir in sorted(p for p in truth_root.iterdir() if p.is_dir()):
        dataset = dataset_dir.name
        for truth in sorted(dataset_dir.glob("sub-*.npz")):
            subject = int(truth.stem.removeprefix("sub-"))
            prepared = Path(results) / "prepared" / dataset / f"sub-{subject:02d}.zarr"
            pattern = f"*/sub-{subject:02d}/evaluation.npz"
            for evaluation in sorted((Path(results) / "evaluation" / dataset).glob(pattern)):
                numbers = subject_accuracy(evaluation, truth, prepared, threshold)
                model = evaluation.parent.parent.name
                rows.append(SubjectAccuracy(dataset, model, subject, *numbers))
    return rows


def format_table(rows: list[SubjectAccuracy], threshold: float = SIGNAL_THRESHOLD) -> str:
    """A plain-text table of :func:`study_accuracy`'s rows."""
    if not rows:
        return "no evaluated subjects of a simulated study found"
    # every split any model has (a model without one shows nan there), first seen first
    splits = list(dict.fromkeys(s for r in rows for s in r.median_percent_nc))
    head = ["dataset", "model", "subject", "signal targets", "NC est.", "NC true", "est.-true"]
    head += ["by chance"]
    head += [f"%NC {s}" for s in splits]
    table = [head]
    for r in rows:
        low, mid, high = r.nc_difference
        cells = [r.dataset, r.model, f"{r.subject}", f"{r.n_signal}/{r.n_targets}"]
        cells += [f"{r.median_nc_estimated:.1f}", f"{r.median_nc_true:.1f}"]
        cells += [f"{mid:+.1f} [{low:+.1f}, {high:+.1f}]"]
        cells += ["[{:+.1f}, {:+.1f}]".format(*r.sampling_range)]
        cells += [f"{r.median_percent_nc.get(s, float('nan')):.1f}" for s in splits]
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [
        f"median over targets whose true noise ceiling (of the prepared data) > {threshold:g} %; "
        "%NC = 100 r² / true NC; est.-true: median [quartiles] of estimated − true NC; "
        "by chance: 5-95 % range of that median in pseudo-studies drawn from the truth"
    ]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(lines)
