"""The leaderboard's free-viewing rows: fixation-locked MEG of a subject no model saw.

One row per dataset × backbone × feature route × stream × kind × scored subject, read from the
leave-one-subject-out evaluation JSON of rule ``evaluate_fixations``: the median over channels of
Pearson r across the subject's fixations at the latency (110 ms by default), the peak of the
median-r curve over the model's times, the simulated truth's ceiling (the r a perfect model of
that subject reaches at the latency; none for real data) and the share of it reached, the
difference to the ``ridge_cv`` row of the same route and stream, and the costs: the feature
route's time per fixation and peak memory (of the scored subject's feature job) and the fit's
seconds. A seeded kind's models (``seeds``: one per seed) make one row: each figure is the mean
over the seeds, the median r also its sd (ddof 1), the peak that of the mean curve. Within a
dataset, rows are ordered by backbone, route, stream, subject, then ``ridge_cv`` first.

Leave-one-subject-out: where a model is scored on more than one subject (``evaluate``: each
fold's model trained on the others), it also gets a **mean** row (``subject`` None, the scored
subjects in ``scored``) after its subjects' rows: the mean over the subjects of their median r
(± the sd over the seeds of each seed's mean over the subjects), Δ against the baseline's mean
row, in how many subjects the model is ahead of the baseline (``ahead``), the peak of the
subjects' mean curve, the mean ceiling, and the mean of the cost columns (forwards summed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError
from bergforge.report.text_table import aligned_table

FREE_VIEWING_BASELINE = "ridge_cv"
ROUTE_ORDER = ("crops", "gaze")
STREAM_ORDER = ("dual", "foveal")


@dataclass(frozen=True)
class FreeViewingRun:
    """One evaluated free-viewing model on one scored subject, as the leaderboard reads it."""

    dataset: str
    backbone: str
    route: str
    stream: str
    kind: str
    subject: int
    evaluation: Path
    seed: int | None = None


@dataclass
class FreeViewingRow:
    """The scores and costs of one :class:`FreeViewingRun`."""

    dataset: str
    backbone: str
    route: str
    stream: str
    kind: str
    subject: int | None
    trained_on: list[int]
    n_fixations: int
    latency_ms: float
    median_r: float
    peak_median_r: float
    peak_ms: float
    ceiling_r: float | None
    percent_of_ceiling: float | None
    delta_r: float | None
    feature_ms_per_fixation: float | None
    feature_forwards: int | None
    feature_peak_mb: float | None
    fit_seconds: float | None
    #: the seeds whose models the row averages (empty: one unseeded model)
    seeds: list[int] = field(default_factory=list)
    #: sd (ddof 1) of ``median_r`` over the seeds (None with fewer than two)
    median_r_sd: float | None = None
    #: each seed's median r (in ``seeds`` order; a mean row: each seed's mean over ``scored``)
    seed_median_r: list[float] = field(default_factory=list)
    #: the scored subjects the row is of (a mean row: every one; ``subject`` is then None)
    scored: list[int] = field(default_factory=list)
    #: a mean row of a non-baseline kind: in how many of ``scored`` its Δ r is positive
    ahead: int | None = None

    @property
    def is_mean(self) -> bool:
        """The mean row over the scored subjects (leave-one-subject-out), not one subject's."""
        return self.subject is None


def _read(run: FreeViewingRun) -> dict[str, Any]:
    try:
        found = json.loads(run.evaluation.read_text())
        found["median_r_at_latency"], found["median_r_per_time"], found["times"]  # noqa: B018
    except (OSError, ValueError, KeyError) as err:
        raise DataError(
            f"free-viewing evaluation {run.evaluation}: {err}; expected the JSON of rule "
            "evaluate_fixations"
        ) from err
    return found


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def free_viewing_row(runs: list[FreeViewingRun]) -> FreeViewingRow:
    """The row of one model or of the seeds of one seeded model (``delta_r`` is filled by
    :func:`free_viewing_rows`)."""
    return _row_and_curve(runs)[0]


def _row_and_curve(runs: list[FreeViewingRun]) -> tuple[FreeViewingRow, np.ndarray, list[float]]:
    runs = sorted(runs, key=lambda r: -1 if r.seed is None else int(r.seed))
    found = [_read(run) for run in runs]
    times = [list(f["times"]) for f in found]
    if any(t != times[0] for t in times):
        raise DataError(
            f"free-viewing evaluations {[str(r.evaluation) for r in runs]}: the seeds were "
            "scored at different times; expected the same times"
        )
    curve = np.mean([np.asarray(f["median_r_per_time"], dtype=float) for f in found], axis=0)
    peak = int(np.argmax(curve))
    first, run = found[0], runs[0]
    ceiling = first.get("ceiling_r_median")
    values = [float(f["median_r_at_latency"]) for f in found]
    r = float(np.mean(values))
    cost = first.get("feature_cost") or {}
    seconds, n = cost.get("seconds"), int(first["n_fixations"])
    return (
        FreeViewingRow(
            dataset=run.dataset,
            backbone=run.backbone,
            route=run.route,
            stream=run.stream,
            kind=run.kind,
            subject=run.subject,
            trained_on=[int(s) for s in first.get("trained_on", [])],
            n_fixations=n,
            latency_ms=1e3 * float(first["latency"]),
            median_r=r,
            peak_median_r=float(curve[peak]),
            peak_ms=1e3 * float(times[0][peak]),
            ceiling_r=None if ceiling is None else float(ceiling),
            percent_of_ceiling=None if not ceiling else 100.0 * r / float(ceiling),
            delta_r=None,
            feature_ms_per_fixation=None if seconds is None or n == 0 else 1e3 * seconds / n,
            feature_forwards=cost.get("forwards"),
            feature_peak_mb=cost.get("peak_rss_mb"),
            fit_seconds=_mean([f.get("fit_seconds") for f in found]),
            seeds=[int(r.seed) for r in runs if r.seed is not None],
            median_r_sd=float(np.std(values, ddof=1)) if len(values) > 1 else None,
            seed_median_r=values if run.seed is not None else [],
            scored=[int(run.subject)],
        ),
        curve,
        [float(t) for t in times[0]],
    )


def mean_row(
    rows: list[FreeViewingRow], curves: list[np.ndarray], times: list[list[float]]
) -> FreeViewingRow:
    """The leave-one-subject-out mean row of one model's per-subject rows (module docstring;
    ``delta_r`` and ``ahead`` are filled by :func:`free_viewing_rows`)."""
    first = rows[0]
    if any(t != times[0] for t in times):
        raise DataError(
            f"free-viewing {first.dataset} {first.route}-{first.stream} {first.kind}: its "
            "subjects were scored at different times; expected the same times"
        )
    curve = np.mean(curves, axis=0)
    peak = int(np.argmax(curve))
    r = float(np.mean([row.median_r for row in rows]))
    ceilings = [row.ceiling_r for row in rows]
    ceiling = None if any(c is None for c in ceilings) else float(np.mean(ceilings))
    per_seed = [row.seed_median_r for row in rows]
    same_seeds = all(row.seeds == first.seeds for row in rows) and len(first.seeds) > 0
    seed_means = np.mean(per_seed, axis=0).tolist() if same_seeds else []
    forwards = [row.feature_forwards for row in rows]
    return FreeViewingRow(
        dataset=first.dataset,
        backbone=first.backbone,
        route=first.route,
        stream=first.stream,
        kind=first.kind,
        subject=None,
        trained_on=sorted({s for row in rows for s in row.trained_on}),
        n_fixations=sum(row.n_fixations for row in rows),
        latency_ms=first.latency_ms,
        median_r=r,
        peak_median_r=float(curve[peak]),
        peak_ms=1e3 * float(times[0][peak]),
        ceiling_r=ceiling,
        percent_of_ceiling=None if not ceiling else 100.0 * r / ceiling,
        delta_r=None,
        feature_ms_per_fixation=_mean([row.feature_ms_per_fixation for row in rows]),
        feature_forwards=None if None in forwards else int(sum(forwards)),
        feature_peak_mb=_mean([row.feature_peak_mb for row in rows]),
        fit_seconds=_mean([row.fit_seconds for row in rows]),
        seeds=list(first.seeds) if same_seeds else [],
        median_r_sd=float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else None,
        seed_median_r=seed_means,
        scored=sorted(int(row.subject) for row in rows if row.subject is not None),
    )


def _order(row: FreeViewingRow, datasets: list[str]) -> tuple:
    return (
        datasets.index(row.dataset),
        row.backbone,
        ROUTE_ORDER.index(row.route) if row.route in ROUTE_ORDER else 9,
        STREAM_ORDER.index(row.stream) if row.stream in STREAM_ORDER else 9,
        (1, 0) if row.subject is None else (0, row.subject),  # a mean row after its subjects
        0 if row.kind == FREE_VIEWING_BASELINE else 1,
        row.kind,
    )


def free_viewing_rows(runs: list[FreeViewingRun]) -> list[FreeViewingRow]:
    """Every run's row and each model's mean row over its scored subjects (more than one),
    ordered, with ``delta_r`` against the baseline of the same route, stream and subject(s)."""
    groups: dict[tuple, list[FreeViewingRun]] = {}
    for run in runs:
        key = (run.dataset, run.backbone, run.route, run.stream, run.kind, run.subject)
        groups.setdefault(key, []).append(run)
    made = [_row_and_curve(group) for group in groups.values()]
    rows = [row for row, _, _ in made]
    models: dict[tuple, list[tuple[FreeViewingRow, np.ndarray, list[float]]]] = {}
    for item in made:
        row = item[0]
        models.setdefault((row.dataset, row.backbone, row.route, row.stream, row.kind), []).append(
            item
        )
    means = {
        model: mean_row(
            [r for r, _, _ in found], [c for _, c, _ in found], [t for _, _, t in found]
        )
        for model, found in models.items()
        if len(found) > 1
    }
    rows += means.values()

    def scored_key(r: FreeViewingRow) -> tuple:
        return (r.dataset, r.backbone, r.route, r.stream, r.subject, tuple(r.scored))

    baseline = {scored_key(r): r.median_r for r in rows if r.kind == FREE_VIEWING_BASELINE}
    for r in rows:
        base = baseline.get(scored_key(r))
        r.delta_r = None if base is None or r.kind == FREE_VIEWING_BASELINE else r.median_r - base
    for model, r in means.items():
        if r.delta_r is not None:  # a kind beside its baseline: in how many subjects ahead
            r.ahead = sum(s.delta_r is not None and s.delta_r > 0 for s, _, _ in models[model])
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    return sorted(rows, key=lambda r: _order(r, datasets))


HEADER = (
    "dataset",
    "backbone",
    "route",
    "stream",
    "kind",
    "seeds",
    "subject",
    "fixations",
    "median r @ latency",
    "Δ r vs ridge_cv",
    "ahead in",
    "peak r (ms)",
    "ceiling r",
    "% of ceiling",
    "feature ms/fixation",
    "forwards",
    "feature peak MB",
    "fit s",
)


def _num(value: float | None, digits: int, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _sd(value: float | None) -> str:
    return "" if value is None else f" ± {value:.3f}"


def subject_cell(row: FreeViewingRow) -> str:
    """``60`` for one subject's row, ``mean of 5`` for a mean row."""
    return f"mean of {len(row.scored)}" if row.subject is None else f"{row.subject:02d}"


def free_viewing_cells(row: FreeViewingRow) -> list[str]:
    """The text cells of one row (:data:`HEADER`)."""
    return [
        row.dataset,
        row.backbone,
        row.route,
        row.stream,
        row.kind,
        ",".join(map(str, row.seeds)) or "–",
        subject_cell(row),
        str(row.n_fixations),
        f"{row.median_r:.3f}{_sd(row.median_r_sd)} ({row.latency_ms:.0f} ms)",
        _num(row.delta_r, 3, signed=True),
        "–" if row.ahead is None else f"{row.ahead} of {len(row.scored)}",
        f"{row.peak_median_r:.3f} ({row.peak_ms:.0f})",
        _num(row.ceiling_r, 3),
        _num(row.percent_of_ceiling, 1),
        _num(row.feature_ms_per_fixation, 2),
        "–" if row.feature_forwards is None else str(row.feature_forwards),
        _num(row.feature_peak_mb, 0),
        _num(row.fit_seconds, 1),
    ]


def format_free_viewing_table(rows: list[FreeViewingRow]) -> str:
    """An aligned plain-text table."""
    return aligned_table(HEADER, [free_viewing_cells(r) for r in rows], "fixations")


def format_free_viewing_tsv(rows: list[FreeViewingRow]) -> str:
    """Tab-separated values with a header line."""
    lines = [list(HEADER)] + [free_viewing_cells(r) for r in rows]
    return "\n".join("\t".join(c) for c in lines) + "\n"
