"""Chance levels of the retrieval metrics (:mod:`bergforge.evaluation.retrieval`).

With N candidates and a true candidate whose zero-based rank is uniform on 0..N−1 (random scores
without ties): ``topk = min(k, N)/N``; ``median_rank`` ≈ ``mean_rank`` = ``(N − 1)/2``;
``std_rank = sqrt((N² − 1)/12)`` (sd of the discrete uniform); ``normalised_rank = 0.5``.
For N = 113: top-1 0.88 %, top-5 4.4 %, top-10 8.8 %, median rank 56.
"""

from __future__ import annotations

import math

from bergforge.errors import DataError
from bergforge.evaluation.retrieval import TOP_KS, RankSummary


def chance_levels(n_candidates: int) -> dict[str, float]:
    """Chance value of each metric of :meth:`RankSummary.metrics` for ``n_candidates`` (≥ 2)."""
    n = int(n_candidates)
    if n < 2:
        raise DataError(f"{n_candidates} candidates; expected at least 2 for a chance level")
    out = {f"top{k}": min(k, n) / n for k in TOP_KS}
    out["median_rank"] = (n - 1) / 2
    out["mean_rank"] = (n - 1) / 2
    out["std_rank"] = math.sqrt((n * n - 1) / 12)
    out["normalised_rank"] = 0.5
    return out


def describe(summary: RankSummary) -> list[str]:
    """One line per metric with its chance level beside it, e.g. ``top5  0.1239  (chance 0.0442)``."""
    chance = chance_levels(summary.n_candidates)
    return [
        f"{name:<16}{value:10.4f}  (chance {chance[name]:.4f})"
        for name, value in summary.metrics().items()
    ]
