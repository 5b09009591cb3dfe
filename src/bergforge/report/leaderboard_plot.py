"""The leaderboard's figure: median % of the noise ceiling of every model, one panel per dataset.

Each model (``model · backbone``) is one line of its dataset's panel: a dot per subject (the mean
over the model's seeds, with the seeds' sd as a bar), and a bar for the mean over subjects; the
dashed line is the baseline's (``ridge_cv``) mean. Fixed size per panel, no tight bbox.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from bergforge.report.figures import DPI, _save
from bergforge.report.leaderboard import BASELINE, Leaderboard, Row

PANEL_WIDTH = 4.0  # inches per dataset
ROW_HEIGHT = 0.42  # inches per model line


def _name(row: Row) -> str:
    return f"{row.model} · {row.backbone}" if row.backbone else row.model


def plot_leaderboard(board: Leaderboard, path: Path | str) -> None:
    """Write the figure of ``board`` to ``path`` (PNG)."""
    datasets = list(dict.fromkeys(r.dataset for r in board.means))
    if not datasets:
        raise ValueError("an empty leaderboard has no figure")
    n_lines = max(sum(r.dataset == d for r in board.means) for d in datasets)
    size = (PANEL_WIDTH * len(datasets), 1.4 + ROW_HEIGHT * n_lines)
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        means = [r for r in board.means if r.dataset == dataset]
        names = [_name(r) for r in means]
        for y, mean in enumerate(means):
            if mean.median_pnc is not None:
                colour = "tab:grey" if mean.model == BASELINE else "tab:blue"
                ax.barh(y, mean.median_pnc, height=0.6, color=colour, alpha=0.35)
            subjects = [
                r
                for r in board.subjects
                if r.dataset == dataset and _name(r) == names[y] and r.median_pnc is not None
            ]
            ax.errorbar(
                [r.median_pnc for r in subjects],
                [y] * len(subjects),
                xerr=[r.median_pnc_sd or 0.0 for r in subjects],
                fmt="o",
                ms=4,
                color="black",
                capsize=2,
                lw=1,
            )
            if mean.model == BASELINE and mean.median_pnc is not None:
                ax.axvline(mean.median_pnc, color="tab:grey", ls="--", lw=1)
        ax.set_yticks(range(len(means)), names, fontsize=8)
        ax.set_ylim(len(means) - 0.5, -0.5)
        ax.set_xlabel("median % of noise ceiling")
        ax.set_title(dataset, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Leaderboard: dots = subjects (± sd over seeds), bars = mean over subjects")
    _save(fig, path)
