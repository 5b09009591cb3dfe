"""The summary page's own figures, drawn with matplotlib (Agg) from plain arrays.

- :func:`plot_time_courses`: predicted vs measured (repetition-averaged) test responses of one
  sensor or channel over time, one panel per test image (MEG, EEG).
- :func:`plot_vertex_betas`: predicted vs measured test betas over the model vertices, one
  scatter per test image, and over the test images for the best-predicted vertex (fMRI).
- :func:`plot_noise_ceiling`: per target, the explained variance ``100·r²`` against the noise
  ceiling (the diagonal is 100 % of the ceiling), beside the ceiling over time (time-resolved
  targets) or its histogram (vertices).

Sizes are fixed (no tight bbox), so every figure of a kind has the same pixel size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bergforge.atomic import atomic_file

DPI = 100
PANEL_FIGSIZE = (12.0, 3.6)  # 1200 x 360 px
MEASURED = {"color": "black", "lw": 1.6, "label": "measured"}
PREDICTED = {"color": "tab:orange", "lw": 1.6, "label": "predicted"}


def _save(fig: Figure, path: Path | str) -> None:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")


def _check_pair(measured: np.ndarray, predicted: np.ndarray, labels: list[str]) -> None:
    if measured.shape != predicted.shape or measured.ndim != 2:
        raise ValueError(
            f"measured {measured.shape} and predicted {predicted.shape}: expected the same "
            "[image, value] shape"
        )
    if len(labels) != measured.shape[0]:
        raise ValueError(f"{len(labels)} image labels for {measured.shape[0]} images")


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 2 or np.std(a[keep]) == 0 or np.std(b[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def plot_time_courses(
    times_ms: np.ndarray,
    measured: np.ndarray,
    predicted: np.ndarray,
    image_labels: list[str],
    title: str,
    path: Path | str,
) -> None:
    """One panel per test image: measured and predicted ``[image, time]`` of one channel."""
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    _check_pair(measured, predicted, image_labels)
    if measured.shape[1] != len(times_ms):
        raise ValueError(f"{measured.shape[1]} time points for {len(times_ms)} times")
    fig = Figure(figsize=PANEL_FIGSIZE, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(image_labels), sharey=True, squeeze=False)[0])
    for ax, label, y, y_hat in zip(axes, image_labels, measured, predicted, strict=True):
        ax.plot(times_ms, y, **MEASURED)
        ax.plot(times_ms, y_hat, **PREDICTED)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{label}\nr over time = {_pearson(y, y_hat):.2f}", fontsize=10)
        ax.set_xlabel("time (ms)")
    axes[0].set_ylabel("response (prepared units)")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(title)
    _save(fig, path)


def plot_vertex_betas(
    measured: np.ndarray,
    predicted: np.ndarray,
    image_labels: list[str],
    vertex: tuple[str, np.ndarray, np.ndarray],
    title: str,
    path: Path | str,
) -> None:
    """One scatter per test image of predicted against measured ``[image, vertex]`` betas, and
    one of ``vertex`` = (label, measured, predicted) over every test image."""
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    _check_pair(measured, predicted, image_labels)
    fig = Figure(figsize=PANEL_FIGSIZE, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(image_labels) + 1, squeeze=False)[0])
    size = 12 if measured.shape[1] <= 2000 else 2
    for ax, label, y, y_hat in zip(axes[:-1], image_labels, measured, predicted, strict=True):
        ax.scatter(y, y_hat, s=size, alpha=0.6, color="tab:orange", rasterized=True)
        _diagonal(ax, np.concatenate([y, y_hat]))
        ax.set_title(f"{label}\nr over vertices = {_pearson(y, y_hat):.2f}", fontsize=10)
        ax.set_xlabel("measured beta")
    name, y, y_hat = vertex[0], np.asarray(vertex[1], float), np.asarray(vertex[2], float)
    axes[-1].scatter(y, y_hat, s=12, alpha=0.7, color="tab:blue", rasterized=True)
    _diagonal(axes[-1], np.concatenate([y, y_hat]))
    axes[-1].set_title(f"{name}\nr over test images = {_pearson(y, y_hat):.2f}", fontsize=10)
    axes[-1].set_xlabel("measured beta (each test image)")
    axes[0].set_ylabel("predicted beta")
    fig.suptitle(title)
    _save(fig, path)


def _diagonal(ax: Axes, values: np.ndarray) -> None:
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")


def plot_noise_ceiling(
    noise_ceiling: np.ndarray,
    correlation: np.ndarray,
    title: str,
    path: Path | str,
    times_ms: np.ndarray | None = None,
) -> None:
    """Explained variance against the noise ceiling per target, and the ceiling itself.

    ``noise_ceiling`` (percent) and ``correlation`` have the targets' shape; with ``times_ms``
    they are ``[channel, time]`` and the right panel shows their medians over channels in time.
    """
    nc = np.asarray(noise_ceiling, float)
    r = np.asarray(correlation, float)
    if nc.shape != r.shape:
        raise ValueError(f"noise ceiling {nc.shape} and r {r.shape}: expected the same shape")
    explained = 100.0 * np.maximum(r, 0.0) ** 2
    fig = Figure(figsize=PANEL_FIGSIZE, layout="constrained")
    ax_sc, ax_nc = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    size = 8 if nc.size <= 5000 else 1
    ax_sc.scatter(nc.ravel(), explained.ravel(), s=size, alpha=0.4, rasterized=True)
    ax_sc.plot([0, 100], [0, 100], color="grey", lw=0.8, ls="--", label="100 % of ceiling")
    ax_sc.set(xlim=(0, 100), ylim=(0, 100), aspect="equal")
    ax_sc.set(xlabel="noise ceiling (% variance)", ylabel="100 · max(r, 0)²  (% variance)")
    ax_sc.set_title(f"every target ({nc.size})", fontsize=10)
    ax_sc.legend(fontsize=8, loc="upper left")
    if times_ms is not None:
        if nc.ndim != 2 or nc.shape[1] != len(times_ms):
            raise ValueError(f"targets {nc.shape}: expected [channel, {len(times_ms)} times]")
        ax_nc.plot(times_ms, np.nanmedian(nc, axis=0), color="tab:blue", label="noise ceiling")
        ax_nc.plot(times_ms, np.nanmedian(explained, axis=0), color="tab:orange", label="100 · r²")
        ax_nc.axvline(0, color="grey", lw=0.8, ls="--")
        ax_nc.set(xlabel="time (ms)", ylabel="median over channels (% variance)")
        ax_nc.set_title("noise ceiling and explained variance over time", fontsize=10)
        ax_nc.legend(fontsize=8, loc="upper left")
    else:
        finite = nc[np.isfinite(nc)]
        ax_nc.hist(finite, bins=40, range=(0, 100), color="tab:blue")
        ax_nc.set(xlabel="noise ceiling (% variance)", ylabel="targets")
        ax_nc.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax_nc.set_title("noise ceiling of the targets", fontsize=10)
    fig.suptitle(title)
    _save(fig, path)
