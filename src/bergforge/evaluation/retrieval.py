"""Retrieval metrics of decoders (brain response → image embedding → which image was seen).

Definitions (as neuralbench's ``Rank``/``TopkAcc`` metrics and ``TestFullRetrievalMetrics``
callback; research/decoding.md §1.8–1.9). Everything is computed in float64.

* **Scores.** ``S[q, c] = ⟨prediction_q, candidate_c / (‖candidate_c‖₂ + 1e-15)⟩``: candidates are
  L2-normalised, predictions are not (neuralbench ``norm_kind="y"``), so the norm of a prediction
  acts as an inverse temperature and does not change its ranking.
* **Rank.** Each query (one row of ``S``) is ranked against every candidate; the rank of its true
  candidate ``t = S[q, true_q]`` is zero-based with ties averaged:
  ``rank = (#{c: S[q, c] > t} + #{c: S[q, c] ≥ t} − 1) / 2``. Rank 0 = best; a tie of the true
  candidate with ``j`` others gives ``j/2`` more than the strict rank.
* **Metrics of a set of ranks** (N = retrieval-set size, the number of candidates):
  ``topk = mean(rank < k)`` for k = 1, 5, 10; ``median_rank``, ``mean_rank``, ``std_rank``
  (population sd, ddof = 0) of the zero-based ranks; ``normalised_rank = mean(1 − rank/(N − 1))``
  (= ``1 − (rank₁ − 1)/(N − 1)`` with 1-based ranks), a "retrieval AUC": 1 = the true candidate is
  always first, 0 = always last, 0.5 = chance. Chance levels: :mod:`bergforge.evaluation.retrieval_chance`.
* **In-batch retrieval** (:func:`batch_metrics`, the training-time metric): the candidates are the
  batch's own targets and query ``i``'s true candidate is target ``i`` (the diagonal); a target
  repeated in the batch ties with it.
* **Full test retrieval** (:func:`full_retrieval`): the retrieval set is one embedding per unique
  image, the true embeddings averaged per image over all trials of all subjects (or a given
  image → embedding table). Aggregations of the queries:

  - ``trial``: every single test trial's prediction is a query;
  - ``subject-agg``: predictions are first averaged per (subject, image), one query each;
  - ``instance-agg``: predictions are averaged per image over all trials and subjects;
  - ``subject-ind``: the ``trial`` ranks, each metric computed per subject and then averaged over
    subjects (unweighted); its ``ranks`` are the ``trial`` ranks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

from bergforge.errors import DataError

#: added to the candidates' L2 norms (neuraltrain's ClipLoss/Rank)
NORM_EPS = 1e-15
#: the k of the top-k accuracies reported
TOP_KS = (1, 5, 10)
#: the aggregations :func:`full_retrieval` returns, in order
AGGREGATIONS = ("trial", "subject-agg", "instance-agg", "subject-ind")


@dataclass(frozen=True)
class RankSummary:
    """Retrieval metrics of a set of queries ranked against ``n_candidates`` candidates."""

    n_queries: int
    n_candidates: int
    top1: float
    top5: float
    top10: float
    median_rank: float
    mean_rank: float
    std_rank: float
    normalised_rank: float
    #: zero-based rank of each query's true candidate (ties averaged)
    ranks: np.ndarray = field(repr=False)
    #: image id of each query (None for in-batch retrieval)
    query_images: np.ndarray | None = field(default=None, repr=False)
    #: subject id of each query (None where a query pools subjects, or in-batch retrieval)
    query_subjects: np.ndarray | None = field(default=None, repr=False)

    def metrics(self) -> dict[str, float]:
        """The scalar metrics by name (the keys of :func:`retrieval_chance.chance_levels`)."""
        return {
            "top1": self.top1,
            "top5": self.top5,
            "top10": self.top10,
            "median_rank": self.median_rank,
            "mean_rank": self.mean_rank,
            "std_rank": self.std_rank,
            "normalised_rank": self.normalised_rank,
        }


def _matrix(name: str, x: object, expected: str) -> np.ndarray:
    """``x`` as a non-empty, finite 2-D float64 array, else one DataError naming ``expected``."""
    a = np.asarray(x)
    if a.ndim != 2 or 0 in a.shape:
        raise DataError(f"{name}: expected a non-empty 2-D array {expected}, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise DataError(f"{name}: expected real numbers {expected}, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).any(axis=1).sum())
        raise DataError(
            f"{name}: {bad} rows hold NaN or infinite values; expected finite {expected}"
        )
    return a


def _labels(name: str, x: object, n: int) -> np.ndarray:
    """``x`` as a 1-D array of ``n`` labels (one per trial)."""
    a = np.asarray(x)
    if a.ndim != 1 or a.size != n:
        raise DataError(f"{name}: expected one label per trial, shape ({n},), got shape {a.shape}")
    return a


def scores(predictions: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Scores ``[n, m]`` of predictions ``[n, d]`` against L2-normalised candidates ``[m, d]``."""
    p = _matrix("predictions", predictions, "[query, dim]")
    c = _matrix("candidates", candidates, "[candidate, dim]")
    if p.shape[1] != c.shape[1]:
        raise DataError(
            f"predictions have {p.shape[1]} dimensions but candidates {c.shape[1]}; "
            "expected the same embedding size"
        )
    c = c / (np.linalg.norm(c, axis=1, keepdims=True) + NORM_EPS)
    return p @ c.T


def ranks(scores: np.ndarray, true_index: np.ndarray) -> np.ndarray:
    """Zero-based rank (ties averaged) of column ``true_index[q]`` within each row ``q`` of ``scores``."""
    s = _matrix("scores", scores, "[query, candidate]")
    t = np.asarray(true_index)
    if t.shape != (s.shape[0],) or not np.issubdtype(t.dtype, np.integer):
        raise DataError(
            f"true_index: expected {s.shape[0]} integer candidate indices, one per query, "
            f"got shape {t.shape} dtype {t.dtype}"
        )
    if t.min() < 0 or t.max() >= s.shape[1]:
        raise DataError(
            f"true_index: values {t.min()}..{t.max()}; expected candidate indices in 0..{s.shape[1] - 1}"
        )
    true = s[np.arange(s.shape[0]), t][:, None]
    above = (s > true).sum(axis=1)
    at_or_above = (s >= true).sum(axis=1)
    return (above + at_or_above - 1) / 2.0


def summarise(
    rank: np.ndarray,
    n_candidates: int,
    query_images: np.ndarray | None = None,
    query_subjects: np.ndarray | None = None,
) -> RankSummary:
    """The metrics of zero-based ``rank`` values among ``n_candidates`` (≥ 2) candidates."""
    r = np.asarray(rank, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        raise DataError(f"ranks: expected a non-empty 1-D array, got shape {r.shape}")
    if n_candidates < 2:
        raise DataError(f"{n_candidates} candidates; expected at least 2 to rank against")
    if not np.isfinite(r).all() or r.min() < 0 or r.max() > n_candidates - 1:
        raise DataError(f"ranks: expected finite values in 0..{n_candidates - 1}")
    top = {k: float(np.mean(r < k)) for k in TOP_KS}
    return RankSummary(
        n_queries=int(r.size),
        n_candidates=int(n_candidates),
        top1=top[1],
        top5=top[5],
        top10=top[10],
        median_rank=float(np.median(r)),
        mean_rank=float(r.mean()),
        std_rank=float(r.std()),
        normalised_rank=float(np.mean(1.0 - r / (n_candidates - 1))),
        ranks=r,
        query_images=query_images,
        query_subjects=query_subjects,
    )


def batch_metrics(predictions: np.ndarray, targets: np.ndarray) -> RankSummary:
    """In-batch retrieval: each prediction ``[b, d]`` ranked against the batch's targets ``[b, d]``."""
    p = _matrix("predictions", predictions, "[batch, dim]")
    y = _matrix("targets", targets, "[batch, dim]")
    if p.shape != y.shape:
        raise DataError(
            f"predictions have shape {p.shape} but targets {y.shape}; expected one target per prediction"
        )
    return summarise(ranks(scores(p, y), np.arange(p.shape[0])), p.shape[0])


@dataclass(frozen=True)
class RetrievalSet:
    """The candidates of full test retrieval: one embedding per image id."""

    ids: np.ndarray  # [m] image ids, unique
    embeddings: np.ndarray  # [m, d] float64

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids)
        emb = _matrix("retrieval-set embeddings", self.embeddings, "[image, dim]")
        if ids.shape != (emb.shape[0],):
            raise DataError(
                f"retrieval set: {emb.shape[0]} embeddings but ids of shape {ids.shape}; "
                "expected one id per embedding"
            )
        if np.unique(ids).size != ids.size:
            raise DataError("retrieval set: repeated image ids; expected one embedding per image")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "embeddings", emb)

    @classmethod
    def from_trials(cls, targets: np.ndarray, images: np.ndarray) -> RetrievalSet:
        """True embeddings ``[trial, d]`` averaged per unique image (ids sorted)."""
        y = _matrix("targets", targets, "[trial, dim]")
        ids, inverse = np.unique(_labels("images", images, y.shape[0]), return_inverse=True)
        return cls(ids, _group_means(y, inverse, ids.size))

    @classmethod
    def from_table(cls, table: Mapping[Hashable, np.ndarray]) -> RetrievalSet:
        """An image id → embedding table (every entry a candidate, ids sorted)."""
        if not table:
            raise DataError("embedding table is empty; expected image id → embedding entries")
        ids = np.array(sorted(table))
        rows = [np.asarray(table[i], dtype=np.float64) for i in ids]
        if any(r.ndim != 1 or r.shape != rows[0].shape for r in rows):
            raise DataError(
                "embedding table: expected one 1-D embedding of the same size per image"
            )
        return cls(ids, np.stack(rows))

    def index_of(self, images: np.ndarray) -> np.ndarray:
        """Candidate index of each image id; DataError naming the ids not in the set."""
        images = np.asarray(images)
        if np.issubdtype(images.dtype, np.number) != np.issubdtype(self.ids.dtype, np.number):
            raise DataError(
                f"trial image ids ({images.dtype}) cannot be compared with the retrieval set's "
                f"({self.ids.dtype}); expected ids of the same kind"
            )
        order = np.argsort(self.ids)
        pos = np.searchsorted(self.ids, images, sorter=order)
        found = order[np.minimum(pos, self.ids.size - 1)]
        missing = self.ids[found] != images
        if missing.any():
            absent = np.unique(images[missing])
            raise DataError(
                f"{absent.size} image ids of the trials are not in the retrieval set "
                f"(e.g. {absent[:5].tolist()}); expected every trial's image among the candidates"
            )
        return found


def _group_means(x: np.ndarray, inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of the rows of ``x`` per group (``inverse`` = group of each row)."""
    sums = np.zeros((n_groups, x.shape[1]))
    np.add.at(sums, inverse, x)
    return sums / np.bincount(inverse, minlength=n_groups)[:, None]


def full_retrieval(
    predictions: np.ndarray,
    subjects: np.ndarray,
    images: np.ndarray,
    candidates: np.ndarray | RetrievalSet | Mapping[Hashable, np.ndarray],
) -> dict[str, RankSummary]:
    """Full test retrieval of per-trial ``predictions [trial, d]`` in the four aggregations.

    ``subjects`` and ``images`` label each trial. ``candidates`` is the per-trial true embeddings
    ``[trial, d]`` (averaged per image into the retrieval set), a :class:`RetrievalSet`, or an image
    id → embedding mapping. Returns ``{aggregation: RankSummary}`` keyed as :data:`AGGREGATIONS`.
    """
    p = _matrix("predictions", predictions, "[trial, dim]")
    subj = _labels("subjects", subjects, p.shape[0])
    img = _labels("images", images, p.shape[0])
    if isinstance(candidates, RetrievalSet):
        rset = candidates
    elif isinstance(candidates, Mapping):
        rset = RetrievalSet.from_table(candidates)
    else:
        y = _matrix("targets", candidates, "[trial, dim]")
        if y.shape[0] != p.shape[0]:
            raise DataError(
                f"{p.shape[0]} predictions but {y.shape[0]} true embeddings; expected one per trial"
            )
        rset = RetrievalSet.from_trials(y, img)
    if rset.ids.size < 2:
        raise DataError(f"{rset.ids.size} candidate image; expected at least 2 to rank against")
    s_trial = scores(p, rset.embeddings)
    trial_true = rset.index_of(img)
    trial_rank = ranks(s_trial, trial_true)
    n = rset.ids.size
    out = {"trial": summarise(trial_rank, n, img, subj)}

    subj_ids, subj_inv = np.unique(subj, return_inverse=True)
    pair_ids, pair_inv = np.unique(subj_inv * n + trial_true, return_inverse=True)
    pair_pred = _group_means(p, pair_inv, pair_ids.size)
    pair_true = pair_ids % n
    out["subject-agg"] = summarise(
        ranks(scores(pair_pred, rset.embeddings), pair_true),
        n,
        rset.ids[pair_true],
        subj_ids[pair_ids // n],
    )

    inst_true, inst_inv = np.unique(trial_true, return_inverse=True)
    inst_pred = _group_means(p, inst_inv, inst_true.size)
    out["instance-agg"] = summarise(
        ranks(scores(inst_pred, rset.embeddings), inst_true), n, rset.ids[inst_true]
    )

    per_subject = [summarise(trial_rank[subj_inv == k], n).metrics() for k in range(subj_ids.size)]
    means = {key: float(np.mean([m[key] for m in per_subject])) for key in per_subject[0]}
    out["subject-ind"] = RankSummary(
        n_queries=int(trial_rank.size),
        n_candidates=n,
        **means,
        ranks=trial_rank,
        query_images=img,
        query_subjects=subj,
    )
    return out
