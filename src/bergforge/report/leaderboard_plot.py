"""The leaderboard's figure: median % of the noise ceiling of every model, one panel per dataset.

Each model (``model · backbone``) is one line of its dataset's panel: a dot per subject (the mean
over the model's seeds, with the seeds' sd as a bar), and a bar for the mean over subjects; the
dashed line is the baseline's (``ridge_cv``) mean. Fixed size per panel, no tight bbox.

Decoding models add one panel per dataset after the encoding panels: each decoder's subject-agg
top-5 retrieval accuracy (%) over all subjects pooled as a bar (± sd over seeds), each subject's
as a dot, the chance level as a dashed line and, for a simulated study, the oracle's (the
least-squares decoder of noise-free responses) as a dotted line.

Free-viewing datasets add one panel each: every model (kind · route-stream, and backbone where
the panel has several) is one line, its median r at the latency over the scored subjects as a
bar (the leave-one-subject-out mean where several are scored, ± sd over a seeded kind's seeds),
each subject's as a dot, the simulated truth's (mean) ceiling as a dotted line.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from bergforge.report.figures import DPI, _save
from bergforge.report.leaderboard import BASELINE, Leaderboard, Row
from bergforge.report.leaderboard_decoding import ORACLE_KIND
from bergforge.report.leaderboard_free_viewing import FreeViewingRow

PANEL_WIDTH = 4.0  # inches per dataset
ROW_HEIGHT = 0.42  # inches per model line


def _name(row: Row) -> str:
    return f"{row.model} · {row.backbone}" if row.backbone else row.model


#: the decoding panels' metric
DECODING_AGGREGATION, DECODING_METRIC = "subject-agg", "top5"


def plot_leaderboard(board: Leaderboard, path: Path | str) -> None:
    """Write the figure of ``board`` to ``path`` (PNG)."""
    datasets = list(dict.fromkeys(r.dataset for r in board.means))
    decoding = list(dict.fromkeys(r.dataset for r in board.decoding))
    viewing = list(dict.fromkeys(r.dataset for r in board.free_viewing))
    if not datasets and not decoding and not viewing:
        raise ValueError("an empty leaderboard has no figure")
    lines = [sum(r.dataset == d for r in board.means) for d in datasets]
    lines += [
        sum(r.dataset == d and r.subject is None and r.kind != ORACLE_KIND for r in board.decoding)
        for d in decoding
    ]
    lines += [len(_free_viewing_lines(board, d)) for d in viewing]
    n_lines = max(lines)
    n_panels = len(datasets) + len(decoding) + len(viewing)
    size = (PANEL_WIDTH * n_panels, 1.4 + ROW_HEIGHT * n_lines)
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    all_axes = fig.subplots(1, n_panels, squeeze=False)[0]
    axes = all_axes[: len(datasets)]
    later = all_axes[len(datasets) :]
    for ax, dataset in zip(later[: len(decoding)], decoding, strict=True):
        _decoding_panel(ax, board, dataset)
    for ax, dataset in zip(later[len(decoding) :], viewing, strict=True):
        _free_viewing_panel(ax, board, dataset)
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


def _free_viewing_lines(
    board: Leaderboard, dataset: str
) -> list[tuple[FreeViewingRow, list[FreeViewingRow]]]:
    """Per model of ``dataset``: its bar's row (the mean row, or its one subject's) and its
    subjects' rows."""
    lines: dict[tuple, list[FreeViewingRow]] = {}
    for r in board.free_viewing:
        if r.dataset == dataset:
            lines.setdefault((r.backbone, r.route, r.stream, r.kind), []).append(r)
    out = []
    for rows in lines.values():
        subjects = [r for r in rows if not r.is_mean]
        means = [r for r in rows if r.is_mean]
        out.append((means[0] if means else subjects[0], subjects))
    return out


def _free_viewing_panel(ax, board: Leaderboard, dataset: str) -> None:
    """One free-viewing dataset (module docstring): a line per model, ``ridge_cv`` grey."""
    lines = _free_viewing_lines(board, dataset)
    rows = [bar for bar, _ in lines]
    backbones = sorted({r.backbone for r in rows})
    one = len(backbones) == 1  # then named in the title, not on every line
    names = [f"{r.kind} · {r.route}-{r.stream}" + ("" if one else f" · {r.backbone}") for r in rows]
    for y, (row, subjects) in enumerate(lines):
        colour = "tab:grey" if row.kind == "ridge_cv" else "tab:purple"
        ax.barh(y, row.median_r, height=0.6, color=colour, alpha=0.5)
        if row.median_r_sd is not None:
            ax.errorbar(row.median_r, y, xerr=row.median_r_sd, fmt="none", color=colour, lw=1)
        if len(subjects) > 1:
            ax.plot([r.median_r for r in subjects], [y] * len(subjects), "o", color=colour, ms=3)
    ceilings = sorted({r.ceiling_r for r in rows if r.ceiling_r is not None})
    for ceiling in ceilings:
        ax.axvline(ceiling, color="tab:green", ls=":", lw=1.5)
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    latency = f"{rows[0].latency_ms:.0f} ms" if rows else "the latency"
    scored = max(len(subjects) for _, subjects in lines) if lines else 1
    what = "an unseen subject" if scored == 1 else f"bar: mean of {scored} subjects"
    ax.set_xlabel(f"median r at {latency}\n{what}, dotted: ceiling", fontsize=9)
    ax.set_title(f"{dataset}\nfree viewing" + (f" · {backbones[0]}" if one else ""), fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def _decoding_panel(ax, board: Leaderboard, dataset: str) -> None:
    """One dataset's decoders: subject-agg top-5 (%) pooled (bar ± sd), per subject (dots);
    chance dashed, the oracle (one per backbone) dotted."""
    here = [r for r in board.decoding if r.dataset == dataset and r.subject is None]
    pooled = [r for r in here if r.kind != ORACLE_KIND]
    oracles = [r for r in here if r.kind == ORACLE_KIND]
    names = [f"{r.kind}\n{r.backbone}" if r.backbone else r.kind for r in pooled]
    for y, row in enumerate(pooled):
        value = row.metrics[DECODING_AGGREGATION][DECODING_METRIC]
        sd = row.metrics_sd[DECODING_AGGREGATION][DECODING_METRIC]
        ax.barh(y, 100 * value, height=0.6, color="tab:orange", alpha=0.45)
        if sd is not None:
            ax.errorbar(100 * value, y, xerr=100 * sd, fmt="none", color="tab:orange", lw=1)
        subjects = [
            r
            for r in board.decoding
            if r.dataset == dataset
            and r.subject is not None
            and r.kind == row.kind
            and r.backbone == row.backbone
        ]
        ax.plot(
            [100 * r.metrics[DECODING_AGGREGATION][DECODING_METRIC] for r in subjects],
            [y] * len(subjects),
            "o",
            ms=4,
            color="black",
        )
    if here:
        ax.axvline(100 * here[0].chance[DECODING_METRIC], color="tab:grey", ls="--", lw=1)
    for oracle in oracles:
        value = 100 * oracle.metrics[DECODING_AGGREGATION][DECODING_METRIC]
        ax.axvline(value, color="tab:green", ls=":", lw=1.5)
        label = f"oracle {value:.0f} %" + (f" · {oracle.backbone}" if len(oracles) > 1 else "")
        ax.annotate(
            label,
            (value, 0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=7,
            color="tab:green",
        )
    ax.set_yticks(range(len(pooled)), names, fontsize=8)
    ax.set_ylim(len(pooled) - 0.5, -0.5)
    n = here[0].n_candidates if here else 0
    note = ", dotted: oracle" if oracles else ""
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"subject-agg top-5 (%, {n} images)\ndashed: chance{note}", fontsize=9)
    ax.set_title(f"{dataset} (decoding)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
