"""The leaderboard: which model predicts each subject best, beside the ``ridge_cv`` baseline.

One row per dataset × backbone × model × subject (and, for multi-subject kinds evaluated on a
held-out subject, per unseen-subject variant): the median Pearson r and the median percent of the
noise ceiling over the targets of the scored split (``all``; kinds without splits: their one
evaluation), as the mean ± sd (ddof 1) over the model's seeds, and what its fit job cost: the
mean wall-clock seconds of the fit and the largest peak memory (``fit_job.json``,
:mod:`bergforge.models.fit_record`). Within each dataset × subject the ``ridge_cv`` rows come
first (the baseline to beat), then other linear models, then the other kinds in config order;
``Δ % NC`` is a row's median % NC minus that of the ``ridge_cv`` row of the same dataset, subject
and backbone. The mean over subjects of each dataset × backbone × model is the second table.

Decoding models (kinds with ``task = "decode"``) are a third table of their own, ``decoding``
(:mod:`bergforge.report.leaderboard_decoding`: retrieval accuracies beside chance); the encoding
tables do not change with them.

The runs to score come from the workflow (:func:`bergforge.workflow.leaderboard.leaderboard_runs`);
this module only reads evaluation files and fit records.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.atomic import save_json, save_text
from bergforge.errors import DataError
from bergforge.evaluation.files import read_evaluation
from bergforge.models.fit_record import read_fit_record
from bergforge.report.leaderboard_decoding import (
    DecodingRow,
    DecodingRun,
    decoding_rows,
    format_decoding_tsv,
)
from bergforge.report.leaderboard_free_viewing import (
    FreeViewingRow,
    FreeViewingRun,
    format_free_viewing_tsv,
    free_viewing_rows,
)
from bergforge.report.section import median, read_scores
from bergforge.report.text_table import aligned_table

#: the label of the baseline rows
BASELINE = "ridge_cv"
#: the split whose evaluation is scored (kinds without it: their first split)
SCORED_SPLIT = "all"
#: the method of ``unseen.npz`` that repeats the subject's own linear model (already a row)
OWN_LINEAR = "own_linear"


@dataclass(frozen=True)
class Run:
    """One evaluated model of one subject (one seed), as the leaderboard reads it."""

    dataset: str
    modality: str
    backbone: str | None
    kind: str  # the registry kind
    label: str  # the row's model: the regression for linear (ridge_cv, ols), else the kind
    subject: int
    evaluation: Path  # evaluation.npz
    fit_folders: tuple[Path, ...] = ()  # folders whose fit jobs made the scored model
    seed: int | None = None
    #: a multi-subject kind's prediction method for this subject held out of its fit (``unseen.npz``
    #: holds one per method: ``mean_adapter``, ``few_shot``), else None
    unseen: str | None = None


@dataclass(frozen=True)
class Score:
    """One run's numbers."""

    median_r: float | None
    median_pnc: float | None
    fit_seconds: float | None
    peak_mb: float | None


@dataclass
class Row:
    """One row: a model of one subject over its seeds (``subject`` None: mean over subjects)."""

    dataset: str
    modality: str
    backbone: str | None
    kind: str
    model: str  # the label, with the unseen variant when there is one
    subject: int | None
    n_seeds: int
    median_r: float | None
    median_r_sd: float | None
    median_pnc: float | None
    median_pnc_sd: float | None
    delta_pnc: float | None = None
    fit_seconds: float | None = None
    peak_mb: float | None = None
    seeds: list[int | None] = field(default_factory=list)
    n_subjects: int = 1


def score_evaluation(path: Path | str) -> tuple[float | None, float | None]:
    """(median r, median % NC) over the finite targets of the scored split of ``evaluation.npz``."""
    scores = read_scores(path)
    i = scores.splits.index(SCORED_SPLIT) if SCORED_SPLIT in scores.splits else 0
    return median(scores.correlation[i]), median(scores.percent_noise_ceiling[i])


UNSEEN_ARRAYS = ("methods", "correlation", "percent_noise_ceiling")


def unseen_methods(path: Path | str) -> list[str]:
    """The prediction methods of an ``unseen.npz`` (without the subject's own linear model)."""
    methods = [str(m) for m in read_evaluation(path, required=UNSEEN_ARRAYS)["methods"]]
    return [m for m in methods if m != OWN_LINEAR]


def score_unseen(path: Path | str, method: str) -> tuple[float | None, float | None]:
    """(median r, median % NC) over the finite targets of ``method`` in ``unseen.npz``."""
    arrays = read_evaluation(path, required=UNSEEN_ARRAYS)
    methods = [str(m) for m in arrays["methods"]]
    if method not in methods:
        raise DataError(f"{path}: no method {method!r}; it holds {methods}")
    i = methods.index(method)
    return median(arrays["correlation"][i]), median(arrays["percent_noise_ceiling"][i])


def fit_cost(folders: tuple[Path, ...]) -> tuple[float | None, float | None]:
    """(seconds, peak MB) of the fit jobs of ``folders``: summed wall time, the largest peak
    resident memory (of a job or its largest child); None when a folder has no fit record."""
    records = [read_fit_record(f) for f in folders]
    if not records or any(r is None for r in records):
        return None, None
    seconds = sum(float(r["wall_seconds"]) for r in records)
    peak = max(
        max(float(r["peak_rss_mb"]), float(r.get("peak_rss_children_mb") or 0)) for r in records
    )
    return seconds, peak


def score_run(run: Run) -> Score:
    """Read one run's evaluation and fit records."""
    if run.unseen is None:
        r, pnc = score_evaluation(run.evaluation)
    else:
        r, pnc = score_unseen(run.evaluation, run.unseen)
    seconds, peak = fit_cost(run.fit_folders)
    return Score(r, pnc, seconds, peak)


def _mean_sd(values: list[float | None]) -> tuple[float | None, float | None]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return float(np.mean(finite)), sd


def _model_label(run: Run) -> str:
    return run.label if run.unseen is None else f"{run.label} (unseen: {run.unseen})"


def _rank(run: Run) -> int:
    """Baseline first, then other linear models, then everything else (config order)."""
    if run.label == BASELINE and run.unseen is None:
        return 0
    return 1 if run.kind == "linear" and run.unseen is None else 2


def subject_rows(runs: list[Run], scores: list[Score]) -> list[Row]:
    """The per-subject table (seeds aggregated), in leaderboard order, with ``Δ % NC``."""
    groups: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        key = (run.dataset, run.subject, run.backbone, run.kind, _model_label(run))
        groups.setdefault(key, []).append(i)
    datasets = list(dict.fromkeys(r.dataset for r in runs))
    rows: list[tuple[tuple, Row]] = []
    for order, members in enumerate(groups.values()):
        first = runs[members[0]]
        r, r_sd = _mean_sd([scores[i].median_r for i in members])
        pnc, pnc_sd = _mean_sd([scores[i].median_pnc for i in members])
        seconds = [scores[i].fit_seconds for i in members]
        peaks = [scores[i].peak_mb for i in members if scores[i].peak_mb is not None]
        row = Row(
            dataset=first.dataset,
            modality=first.modality,
            backbone=first.backbone,
            kind=first.kind,
            model=_model_label(first),
            subject=first.subject,
            n_seeds=len(members),
            median_r=r,
            median_r_sd=r_sd,
            median_pnc=pnc,
            median_pnc_sd=pnc_sd,
            fit_seconds=None if None in seconds else float(np.mean(seconds)),
            peak_mb=max(peaks) if len(peaks) == len(members) else None,
            seeds=[runs[i].seed for i in members],
        )
        sort_key = (datasets.index(first.dataset), first.subject, _rank(first), order)
        rows.append((sort_key, row))
    ordered = [row for _, row in sorted(rows, key=lambda kr: kr[0])]
    _add_deltas(ordered)
    return ordered


def _add_deltas(rows: list[Row]) -> None:
    baseline = {
        (r.dataset, r.subject, r.backbone): r.median_pnc for r in rows if r.model == BASELINE
    }
    for row in rows:
        base = baseline.get((row.dataset, row.subject, row.backbone))
        if base is not None and row.median_pnc is not None:
            row.delta_pnc = row.median_pnc - base


def mean_rows(rows: list[Row]) -> list[Row]:
    """Mean over the subjects of each dataset × backbone × model (of the per-subject means; the
    sd is over subjects), in the order of first appearance with the baseline first."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault((row.dataset, row.backbone, row.kind, row.model), []).append(row)
    out = []
    for members in groups.values():
        first = members[0]
        r, r_sd = _mean_sd([m.median_r for m in members])
        pnc, pnc_sd = _mean_sd([m.median_pnc for m in members])
        seconds = [m.fit_seconds for m in members]
        peaks = [m.peak_mb for m in members]
        out.append(
            Row(
                dataset=first.dataset,
                modality=first.modality,
                backbone=first.backbone,
                kind=first.kind,
                model=first.model,
                subject=None,
                n_seeds=first.n_seeds,
                median_r=r,
                median_r_sd=r_sd,
                median_pnc=pnc,
                median_pnc_sd=pnc_sd,
                fit_seconds=None if None in seconds else float(np.mean(seconds)),
                peak_mb=None if None in peaks else max(peaks),
                seeds=first.seeds,
                n_subjects=len(members),
            )
        )
    datasets = list(dict.fromkeys(r.dataset for r in out))
    out.sort(key=lambda r: (datasets.index(r.dataset), 0 if r.model == BASELINE else 1))
    _add_deltas(out)
    return out


@dataclass
class Leaderboard:
    """Both encoding tables, and the decoding table (empty without decoding models)."""

    subjects: list[Row]
    means: list[Row]
    decoding: list[DecodingRow] = field(default_factory=list)
    free_viewing: list[FreeViewingRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "baseline": BASELINE,
            "scored_split": SCORED_SPLIT,
            "subjects": [asdict(r) for r in self.subjects],
            "means": [asdict(r) for r in self.means],
        }
        if self.decoding:  # a config without decoders keeps the file it always had
            out["decoding"] = [asdict(r) for r in self.decoding]
        if self.free_viewing:
            out["free_viewing"] = [asdict(r) for r in self.free_viewing]
        return out


def build_leaderboard(
    runs: list[Run],
    decoding: list[DecodingRun] | tuple[DecodingRun, ...] = (),
    free_viewing: list[FreeViewingRun] | tuple[FreeViewingRun, ...] = (),
) -> Leaderboard:
    """Score every run (encoding ``runs``, ``decoding`` and ``free_viewing`` runs) and build the
    tables."""
    if not runs and not decoding and not free_viewing:
        raise DataError(
            "no evaluated models to rank; expected at least one evaluation.npz, retrieval.json "
            "or free-viewing evaluation"
        )
    rows = subject_rows(runs, [score_run(r) for r in runs])
    return Leaderboard(
        rows,
        mean_rows(rows),
        decoding_rows(list(decoding)),
        free_viewing_rows(list(free_viewing)),
    )


# ------------------------------------------------------------------------------------ output
HEADER = (
    "dataset",
    "backbone",
    "model",
    "subject",
    "seeds",
    "median r",
    "median % NC",
    "Δ % NC",
    "fit s",
    "peak MB",
)


def _pm(value: float | None, sd: float | None, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if sd is None else f"{value:.{digits}f} ± {sd:.{digits}f}"


def _num(value: float | None, digits: int, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def row_cells(row: Row) -> list[str]:
    """The text cells of one row (:data:`HEADER`)."""
    subject = f"mean of {row.n_subjects}" if row.subject is None else f"{row.subject:02d}"
    return [
        row.dataset,
        row.backbone or "–",
        row.model,
        subject,
        str(row.n_seeds),
        _pm(row.median_r, row.median_r_sd, 3),
        _pm(row.median_pnc, row.median_pnc_sd, 1),
        _num(row.delta_pnc, 1, signed=True),
        _num(row.fit_seconds, 1),
        _num(row.peak_mb, 0),
    ]


def format_table(rows: list[Row]) -> str:
    """An aligned plain-text table (numbers right-aligned)."""
    return aligned_table(HEADER, [row_cells(r) for r in rows], "seeds")


def format_tsv(rows: list[Row]) -> str:
    """Tab-separated values with a header line."""
    return "\n".join("\t".join(c) for c in [list(HEADER)] + [row_cells(r) for r in rows]) + "\n"


def write_leaderboard(
    board: Leaderboard,
    json_path: Path | str,
    tsv_path: Path | str,
    decoding_tsv_path: Path | str | None = None,
    free_viewing_tsv_path: Path | str | None = None,
) -> None:
    """``leaderboard.json`` (every table, every number), ``leaderboard.tsv`` (the subjects) and,
    given their paths, the decoding and free-viewing tables as TSV."""
    save_json(Path(json_path), board.as_dict(), sort_keys=False)
    save_text(tsv_path, format_tsv(board.subjects))
    if decoding_tsv_path is not None:
        save_text(decoding_tsv_path, format_decoding_tsv(board.decoding))
    if free_viewing_tsv_path is not None:
        save_text(free_viewing_tsv_path, format_free_viewing_tsv(board.free_viewing))


def read_leaderboard(path: Path | str) -> Leaderboard:
    """``leaderboard.json`` as written, back as a :class:`Leaderboard`."""
    try:
        found = json.loads(Path(path).read_text())
        return Leaderboard(
            [Row(**r) for r in found["subjects"]],
            [Row(**r) for r in found["means"]],
            [DecodingRow(**r) for r in found.get("decoding", [])],
            [FreeViewingRow(**r) for r in found.get("free_viewing", [])],
        )
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise DataError(
            f"leaderboard {path}: {err}; expected the tables 'subjects' and 'means' as written by "
            "bergforge.report.leaderboard.write_leaderboard"
        ) from err
