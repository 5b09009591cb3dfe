"""One section of the summary page: a subject's model in numbers, and the page's two new figures.

Reads the subject's evaluation (``bergforge.evaluation.files``) and a few repetition-averaged test
responses of its prepared store, and writes ``section.json`` (labels, medians per split, the
figures and the export stage's accuracy plots) beside ``predictions.png`` and ``noise_ceiling.png``.
Medians are over the finite targets, as in the evaluation summaries.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bergforge.atomic import save_json
from bergforge.errors import DataError
from bergforge.evaluation.files import read_evaluation

if TYPE_CHECKING:  # the prepared store (and Zarr) only where a section is made
    from bergforge.preprocess.responses import PreparedResponses

log = logging.getLogger(__name__)

#: test images drawn per section (evenly spaced over the test set)
N_IMAGES = 3
LABEL_KEYS = ("dataset", "modality", "kind", "backbone", "model", "subject")


@dataclass(frozen=True)
class Scores:
    """One subject's evaluation with a split axis on every per-split array."""

    splits: list[str]
    predictions: np.ndarray  # [split, image, *targets]
    correlation: np.ndarray  # [split, *targets]
    percent_noise_ceiling: np.ndarray  # [split, *targets]
    noise_ceiling: np.ndarray  # [*targets]


def read_scores(path: Path | str) -> Scores:
    """The arrays of ``evaluation.npz``; kinds without splits (cnn8) count as one split ``all``."""
    ev = read_evaluation(
        path, required=("test_predictions", "correlation", "noise_ceiling", "percent_noise_ceiling")
    )
    if "splits" in ev:
        return Scores(
            [str(s) for s in ev["splits"]],
            ev["test_predictions"],
            ev["correlation"],
            ev["percent_noise_ceiling"],
            ev["noise_ceiling"],
        )
    return Scores(
        ["all"],
        ev["test_predictions"][None],
        ev["correlation"][None],
        ev["percent_noise_ceiling"][None],
        ev["noise_ceiling"],
    )


def median(values: np.ndarray) -> float | None:
    """Median over the finite values; None when there are none."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else None


def pick_images(n_images: int, k: int = N_IMAGES) -> np.ndarray:
    """``k`` evenly spaced test-image positions (all of them when there are fewer)."""
    return np.unique(np.linspace(0, n_images - 1, min(k, n_images)).round().astype(int))


def evaluated_rows(store: PreparedResponses, n_images: int) -> np.ndarray:
    """Rows of the store's ``test`` array the evaluation scored (the images with a repetition)."""
    seen = np.flatnonzero(store.present("test").any(axis=1))
    if seen.size != n_images:
        raise DataError(
            f"{store.path}: {seen.size} test images with data; the evaluation has {n_images}"
        )
    return seen


def measured_test_means(
    store: PreparedResponses, rows: np.ndarray, target: int | None = None
) -> np.ndarray:
    """Repetition means of the test ``rows`` (sorted), one Zarr chunk at a time:
    ``[len(rows), *targets]``, or ``[len(rows)]`` of one flat ``target`` index."""
    shape = store.target_shape if target is None else ()
    out = np.full((len(rows), *shape), np.nan)
    start = 0
    for chunk in store.chunks("test"):
        stop = start + chunk.shape[0]
        for k in np.flatnonzero((rows >= start) & (rows < stop)):
            trials = chunk[rows[k] - start]  # [repetition, *targets]
            if target is not None:
                trials = trials.reshape(trials.shape[0], -1)[:, target]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # NaN where nothing was measured
                out[k] = np.nanmean(trials, axis=0)
        if stop > rows.max():
            break
        start = stop
    return out


def best_channel(correlation: np.ndarray) -> int:
    """The channel of ``[channel, time]`` r explaining the most variance over time (highest mean
    of max(r, 0)²): the times with a response weigh in, the many without one hardly do."""
    explained = np.nan_to_num(np.maximum(np.asarray(correlation, dtype=float), 0.0)) ** 2
    return int(np.argmax(explained.mean(axis=1)))


def best_target(correlation: np.ndarray) -> int:
    """The flat index of the target with the highest r (0 when none is finite)."""
    r = np.asarray(correlation, dtype=float).ravel()
    return int(np.nanargmax(r)) if np.isfinite(r).any() else 0


def draw_predictions(
    store: PreparedResponses, scores: Scores, split: int, title: str, path: Path
) -> dict[str, Any]:
    """The predicted vs measured figure; returns what it shows."""
    # matplotlib only when drawing: the leaderboard (read by the Snakefile) imports this module
    from bergforge.report.figures import plot_time_courses, plot_vertex_betas

    n_images = scores.predictions.shape[1]
    rows = evaluated_rows(store, n_images)
    positions = pick_images(n_images)
    measured = measured_test_means(store, rows[positions])
    if measured.shape[1:] != scores.predictions.shape[2:]:
        raise DataError(
            f"{store.path}: test targets {measured.shape[1:]} differ from the evaluation's "
            f"{scores.predictions.shape[2:]}; expected the store the evaluation was made from"
        )
    predicted = scores.predictions[split, positions]
    labels = [f"test image {p + 1} of {n_images}" for p in positions]
    shown: dict[str, Any] = {"split": scores.splits[split], "test_images": positions.tolist()}
    if measured.ndim == 3 and "times" in store.attrs:  # [image, channel, time]
        channel = best_channel(scores.correlation[split])
        names = [str(c) for c in store.attrs.get("channels", [])]
        name = names[channel] if channel < len(names) else f"channel {channel}"
        times_ms = np.asarray(store.attrs["times"], dtype=float) * 1000
        plot_time_courses(
            times_ms,
            measured[:, channel],
            predicted[:, channel],
            labels,
            f"{title}: {name} (best-predicted), split {scores.splits[split]}",
            path,
        )
        shown |= {"kind": "time_courses", "channel": name}
    else:
        target = best_target(scores.correlation[split])
        names = np.asarray(store.attrs.get("vertices", []))
        name = f"vertex {names[target]}" if target < names.size else f"target {target}"
        vertex = (
            f"{name} (best-predicted)",
            measured_test_means(store, rows, target),
            scores.predictions[split].reshape(n_images, -1)[:, target],
        )
        plot_vertex_betas(
            measured.reshape(len(positions), -1),
            predicted.reshape(len(positions), -1),
            labels,
            vertex,
            f"{title}: every target, split {scores.splits[split]}",
            path,
        )
        shown |= {"kind": "vertex_betas", "vertex": name}
    return shown


def summary_section(
    evaluation: Path | str,
    prepared: Path | str,
    labels: dict[str, Any],
    plots: list[str],
    more_plots: list[str],
    section: Path | str,
    predictions: Path | str,
    noise_ceiling: Path | str,
) -> dict[str, Any]:
    """Write one section's figures and ``section.json``; return the section record.

    ``labels`` holds :data:`LABEL_KEYS`; ``plots`` and ``more_plots`` are the export stage's
    accuracy plots of the model (shown, and behind a fold), as paths from the working folder.
    """
    from bergforge.preprocess.responses import PreparedResponses
    from bergforge.report.figures import plot_noise_ceiling

    missing = [k for k in LABEL_KEYS if k not in labels]
    if missing:
        raise ValueError(f"section labels lack {missing}")
    scores = read_scores(evaluation)
    store = PreparedResponses(prepared)
    split = scores.splits.index("all") if "all" in scores.splits else 0
    title = f"{labels['dataset']} · {labels['model']} · sub-{int(labels['subject']):02d}"
    shown = draw_predictions(store, scores, split, title, Path(predictions))
    time_resolved = shown["kind"] == "time_courses"
    plot_noise_ceiling(
        scores.noise_ceiling,
        scores.correlation[split],
        f"{title}: noise ceiling per target, split {scores.splits[split]}",
        noise_ceiling,
        times_ms=np.asarray(store.attrs["times"], float) * 1000 if time_resolved else None,
    )
    record = {
        **{k: labels[k] for k in LABEL_KEYS},
        "n_test_images": int(scores.predictions.shape[1]),
        "target_shape": list(scores.noise_ceiling.shape),
        "median_noise_ceiling": median(scores.noise_ceiling),
        "splits": [
            {
                "split": s,
                "median_r": median(scores.correlation[i]),
                "median_percent_noise_ceiling": median(scores.percent_noise_ceiling[i]),
            }
            for i, s in enumerate(scores.splits)
        ],
        "figures": {"predictions": str(predictions), "noise_ceiling": str(noise_ceiling)},
        "predictions_shown": shown,
        "plots": [str(p) for p in plots],
        "more_plots": [str(p) for p in more_plots],
        "evaluation": str(evaluation),
    }
    save_json(Path(section), record)
    log.info("section %s: %d splits, predictions shown %s", title, len(scores.splits), shown)
    return record
