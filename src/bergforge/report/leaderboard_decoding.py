"""The leaderboard's decoding rows: image retrieval by every decoding model, beside chance.

One row per dataset × backbone × decoding kind over all subjects pooled (``subject`` None, the
model's ``retrieval.json`` aggregations ``trial``, ``subject-agg``, ``instance-agg``,
``subject-ind``), then one row per subject (its own ``trial`` and ``subject-agg`` queries; the
other two aggregations pool subjects and are left empty). Each metric is the mean ± sd (ddof 1)
over the model's seeds; the chance levels of the retrieval set's size sit beside them, and the
fit job's cost as for the encoding rows. Within a dataset the ``ridge_decoder`` rows (the
classic baseline) come first. A simulated study's oracle (kind ``oracle``: ``oracle.json`` of
rule ``decoding_oracle``, the retrieval of a least-squares decoder of noise-free responses; no
seeds, no fit, the same for every subject) is one pooled row after its dataset's decoders. The
encoding rows (:mod:`bergforge.report.leaderboard`) are not changed by these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError
from bergforge.evaluation.decoding import PER_SUBJECT, read_retrieval
from bergforge.evaluation.retrieval import AGGREGATIONS
from bergforge.report.text_table import aligned_table

#: the label of the decoding baseline
DECODING_BASELINE = "ridge_decoder"
#: the kind of a simulated study's oracle rows (rule ``decoding_oracle``)
ORACLE_KIND = "oracle"
#: the metrics a row keeps per aggregation (retrieval.json's names)
METRICS = ("top1", "top5", "top10", "median_rank", "normalised_rank")
TOP_KS = (1, 5, 10)


@dataclass(frozen=True)
class DecodingRun:
    """One evaluated decoding model (one seed), as the leaderboard reads it."""

    dataset: str
    modality: str
    backbone: str | None
    kind: str
    retrieval: Path  # retrieval.json
    fit_folders: tuple[Path, ...] = ()
    seed: int | None = None


@dataclass
class DecodingRow:
    """A decoding model over its seeds: all subjects pooled (``subject`` None) or one subject."""

    dataset: str
    modality: str
    backbone: str | None
    kind: str
    subject: int | None
    n_seeds: int
    n_candidates: int
    #: aggregation → metric → mean over seeds (aggregations a row lacks are absent)
    metrics: dict[str, dict[str, float]]
    #: aggregation → metric → sd over seeds (None with one seed)
    metrics_sd: dict[str, dict[str, float | None]]
    chance: dict[str, float]
    fit_seconds: float | None = None
    peak_mb: float | None = None
    seeds: list[int | None] = field(default_factory=list)


def _values(payload: dict[str, Any], subject: int | None) -> dict[str, dict[str, float]]:
    """aggregation → metric of one ``retrieval.json`` (pooled, or one subject's)."""
    if subject is None:
        blocks = payload["aggregations"]
        names = AGGREGATIONS
    else:
        blocks = payload["per_subject"].get(f"sub-{subject:02d}")
        if blocks is None:
            raise DataError(f"retrieval of {payload.get('model')}: no subject {subject}")
        names = PER_SUBJECT
    return {a: {m: float(blocks[a][m]) for m in METRICS} for a in names}


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), sd


def decoding_rows(runs: list[DecodingRun]) -> list[DecodingRow]:
    """Every row of the decoding table (module docstring), in leaderboard order."""
    from bergforge.report.leaderboard import fit_cost

    payloads = [read_retrieval(r.retrieval) for r in runs]
    costs = [fit_cost(r.fit_folders) for r in runs]
    groups: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault((run.dataset, run.backbone, run.kind), []).append(i)
    datasets = list(dict.fromkeys(r.dataset for r in runs))
    keyed: list[tuple[tuple, DecodingRow]] = []
    for order, members in enumerate(groups.values()):
        first = runs[members[0]]
        sizes = {int(payloads[i]["n_candidates"]) for i in members}
        if len(sizes) != 1:
            raise DataError(
                f"the seeds of {first.kind} on {first.dataset} were ranked among "
                f"{sorted(sizes)} candidates; expected the same test images"
            )
        n = sizes.pop()
        subjects = sorted(  # the oracle has no per-subject queries: its pooled row only
            {int(s) for i in members for s in payloads[i]["subjects"]}
            if all("per_subject" in payloads[i] for i in members)
            else set()
        )
        seconds = [costs[i][0] for i in members]
        peaks = [costs[i][1] for i in members]
        for subject in [None, *subjects]:
            per_seed = [_values(payloads[i], subject) for i in members]
            means: dict[str, dict[str, float]] = {}
            sds: dict[str, dict[str, float | None]] = {}
            for aggregation in per_seed[0]:
                for metric in METRICS:
                    mean, sd = _mean_sd([v[aggregation][metric] for v in per_seed])
                    means.setdefault(aggregation, {})[metric] = mean
                    sds.setdefault(aggregation, {})[metric] = sd
            row = DecodingRow(
                dataset=first.dataset,
                modality=first.modality,
                backbone=first.backbone,
                kind=first.kind,
                subject=subject,
                n_seeds=len(members),
                n_candidates=n,
                metrics=means,
                metrics_sd=sds,
                chance=dict(payloads[members[0]]["chance"]),
                fit_seconds=None if None in seconds else float(np.mean(seconds)),
                peak_mb=None if None in peaks else max(peaks),
                seeds=[runs[i].seed for i in members],
            )
            baseline = {DECODING_BASELINE: 0, ORACLE_KIND: 2}.get(first.kind, 1)
            subject_key = -1 if subject is None else subject
            keyed.append(((datasets.index(first.dataset), subject_key, baseline, order), row))
    return [row for _, row in sorted(keyed, key=lambda kr: kr[0])]


# ------------------------------------------------------------------------------------ output
DECODING_HEADER = (
    "dataset",
    "backbone",
    "model",
    "subject",
    "seeds",
    "candidates",
    *(f"top-{k} {a}" for a in AGGREGATIONS for k in TOP_KS),
    "normalised rank subject-agg",
    *(f"chance top-{k}" for k in TOP_KS),
    "fit s",
    "peak MB",
)


def _percent(row: DecodingRow, aggregation: str, metric: str) -> str:
    value = row.metrics.get(aggregation, {}).get(metric)
    if value is None or not math.isfinite(value):
        return "–"
    sd = row.metrics_sd.get(aggregation, {}).get(metric)
    text = f"{100 * value:.1f}"
    return text if sd is None else f"{text} ± {100 * sd:.1f}"


def _plain(value: float | None, sd: float | None, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if sd is None else f"{value:.{digits}f} ± {sd:.{digits}f}"


def decoding_cells(row: DecodingRow) -> list[str]:
    """The text cells of one decoding row (:data:`DECODING_HEADER`); accuracies in %."""
    subject = "all" if row.subject is None else f"{row.subject:02d}"
    norm = row.metrics.get("subject-agg", {}).get("normalised_rank")
    norm_sd = row.metrics_sd.get("subject-agg", {}).get("normalised_rank")
    norm_text = _plain(norm, norm_sd, 3)
    return [
        row.dataset,
        row.backbone or "–",
        row.kind,
        subject,
        "–" if row.kind == ORACLE_KIND else str(row.n_seeds),
        str(row.n_candidates),
        *(_percent(row, a, f"top{k}") for a in AGGREGATIONS for k in TOP_KS),
        norm_text,
        *(f"{100 * row.chance[f'top{k}']:.1f}" for k in TOP_KS),
        "–" if row.fit_seconds is None else f"{row.fit_seconds:.1f}",
        "–" if row.peak_mb is None else f"{row.peak_mb:.0f}",
    ]


def format_decoding_tsv(rows: list[DecodingRow]) -> str:
    """Tab-separated values with a header line (accuracies and chance in %)."""
    lines = [list(DECODING_HEADER)] + [decoding_cells(r) for r in rows]
    return "\n".join("\t".join(c) for c in lines) + "\n"


def format_decoding_table(rows: list[DecodingRow]) -> str:
    """An aligned plain-text table of the decoding rows (numbers right-aligned)."""
    return aligned_table(DECODING_HEADER, [decoding_cells(r) for r in rows], "seeds")
