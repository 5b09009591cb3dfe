"""Retrieval metrics of decoders, checked against explicit loops, pandas group-bys and hand cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bergforge.errors import DataError
from bergforge.evaluation.retrieval import (
    AGGREGATIONS,
    RetrievalSet,
    batch_metrics,
    full_retrieval,
    ranks,
    scores,
    summarise,
)
from bergforge.evaluation.retrieval_chance import chance_levels, describe

# ---------------------------------------------------------------- independent reference


def ref_scores(pred: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Dot product with the candidate L2-normalised (norm + 1e-15), one pair at a time."""
    out = np.zeros((len(pred), len(cand)))
    for q, p in enumerate(pred):
        for c, y in enumerate(cand):
            norm = math.sqrt(sum(float(v) * float(v) for v in y)) + 1e-15
            out[q, c] = sum(float(a) * float(b) for a, b in zip(p, y, strict=True)) / norm
    return out


def ref_rank(row: np.ndarray, true: int) -> float:
    """Zero-based rank: candidates strictly better, plus half of the others tied with the truth."""
    better = sum(1 for v in row if v > row[true])
    tied_others = sum(1 for c, v in enumerate(row) if v == row[true] and c != true)
    return better + tied_others / 2


def ref_metrics(r: list[float], n: int) -> dict[str, float]:
    """The metrics of ranks ``r`` among ``n`` candidates, by plain Python."""
    s = sorted(r)
    m = len(s)
    median = s[m // 2] if m % 2 else (s[m // 2 - 1] + s[m // 2]) / 2
    mean = sum(s) / m
    return {
        "top1": sum(x < 1 for x in r) / m,
        "top5": sum(x < 5 for x in r) / m,
        "top10": sum(x < 10 for x in r) / m,
        "median_rank": median,
        "mean_rank": mean,
        "std_rank": math.sqrt(sum((x - mean) ** 2 for x in r) / m),
        "normalised_rank": sum(1 - x / (n - 1) for x in r) / m,
    }


def assert_metrics(got: dict[str, float], want: dict[str, float]) -> None:
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12), key


# ---------------------------------------------------------------- scores and ranks


def test_scores_normalise_candidates_only():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(5, 4)).astype(np.float32)
    cand = rng.normal(size=(7, 4)) * rng.uniform(0.1, 10, size=(7, 1))
    got = scores(pred, cand)
    assert got.shape == (5, 7) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref_scores(pred, cand), rtol=1e-12)
    # rescaling candidates changes nothing; rescaling predictions scales the scores
    np.testing.assert_allclose(scores(pred, cand * 3.0), got, rtol=1e-12)
    np.testing.assert_allclose(scores(2.5 * pred.astype(np.float64), cand), 2.5 * got, rtol=1e-12)
    # a zero candidate scores 0 (the epsilon keeps it finite)
    cand[2] = 0.0
    assert np.all(scores(pred, cand)[:, 2] == 0.0)


@pytest.mark.parametrize(
    ("row", "true", "want"),
    [
        ([3.0, 1.0, 2.0], 0, 0.0),
        ([3.0, 1.0, 2.0], 1, 2.0),
        ([3.0, 1.0, 2.0], 2, 1.0),
        ([0.5, 0.5, 0.2], 0, 0.5),  # tied for first: rank 0.5
        ([0.5, 0.5, 0.2], 1, 0.5),
        ([1.0, 1.0, 1.0, 1.0], 2, 1.5),  # all tied: middle rank
        ([0.9, 0.1, 0.1, 0.1, 0.0], 3, 2.0),  # tied with two others behind one better
    ],
)
def test_ranks_hand_cases_with_ties(row, true, want):
    assert ranks(np.array([row]), np.array([true]))[0] == want


def test_ranks_match_loop_with_ties_and_argsort_without():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 4, size=(40, 9)).astype(float)  # many ties
    true = rng.integers(0, 9, size=40)
    want = [ref_rank(s[q], true[q]) for q in range(40)]
    np.testing.assert_array_equal(ranks(s, true), want)
    s = rng.normal(size=(30, 11))  # no ties: position in the descending order
    true = rng.integers(0, 11, size=30)
    order = np.argsort(-s, axis=1)
    want = [int(np.nonzero(order[q] == true[q])[0][0]) for q in range(30)]
    np.testing.assert_array_equal(ranks(s, true), want)


def test_summary_matches_reference_and_normalised_rank_extremes():
    rng = np.random.default_rng(2)
    n = 23
    r = ranks(rng.normal(size=(50, n)), rng.integers(0, n, size=50))
    summary = summarise(r, n)
    assert summary.n_queries == 50 and summary.n_candidates == n
    assert_metrics(summary.metrics(), ref_metrics(list(r), n))
    np.testing.assert_array_equal(summary.ranks, r)
    # perfect ordering: the truth always scores highest
    perfect = summarise(ranks(np.eye(n), np.arange(n)), n)
    assert perfect.normalised_rank == 1.0 and perfect.top1 == 1.0 and perfect.median_rank == 0
    # reversed ordering: the truth always scores lowest
    reversed_ = summarise(ranks(1.0 - np.eye(n), np.arange(n)), n)
    assert reversed_.normalised_rank == 0.0 and reversed_.top10 == 0.0
    assert reversed_.median_rank == n - 1


# ---------------------------------------------------------------- chance levels


def test_chance_levels_values():
    c = chance_levels(113)
    assert c["top1"] == pytest.approx(0.0088, abs=5e-5)
    assert c["top5"] == pytest.approx(0.044, abs=5e-4)
    assert c["median_rank"] == 56 and c["normalised_rank"] == 0.5
    small = chance_levels(4)  # k beyond N: the truth is always within the top k
    assert small["top5"] == 1.0 and small["top10"] == 1.0 and small["top1"] == 0.25
    lines = describe(summarise(np.array([0.0, 3.0]), 4))
    assert (
        len(lines) == 7
        and lines[0].split()[:2] == ["top1", "0.5000"]
        and "chance 0.2500" in lines[0]
    )


def test_chance_levels_match_monte_carlo():
    rng = np.random.default_rng(3)
    n, q = 113, 20000
    r = ranks(rng.normal(size=(q, n)), rng.integers(0, n, size=q))
    got = summarise(r, n).metrics()
    chance = chance_levels(n)
    for k in (1, 5, 10):
        p = k / n
        sd = math.sqrt(p * (1 - p) / q)  # binomial sd of the mean
        assert abs(got[f"top{k}"] - p) < 4 * sd, k
    sd_rank = chance["std_rank"]
    assert abs(got["mean_rank"] - chance["mean_rank"]) < 4 * sd_rank / math.sqrt(q)
    assert abs(got["normalised_rank"] - 0.5) < 4 * sd_rank / (n - 1) / math.sqrt(q)
    assert abs(got["std_rank"] - sd_rank) < 0.02 * sd_rank
    assert abs(got["median_rank"] - chance["median_rank"]) <= 2


# ---------------------------------------------------------------- in-batch retrieval


def test_batch_metrics_match_loop_and_tie_repeated_targets():
    rng = np.random.default_rng(4)
    targets = rng.normal(size=(16, 6))
    targets[9] = targets[3]  # the same image seen by two subjects
    preds = targets * rng.uniform(0.5, 2, size=(16, 1)) + rng.normal(scale=0.8, size=(16, 6))
    s = ref_scores(preds, targets)
    want = [ref_rank(s[i], i) for i in range(16)]
    got = batch_metrics(preds, targets)
    np.testing.assert_allclose(got.ranks, want)
    assert_metrics(got.metrics(), ref_metrics(want, 16))
    assert got.ranks[3] % 1 == 0.5 and got.ranks[9] % 1 == 0.5  # tie with the twin: half rank
    assert got.query_images is None


# ---------------------------------------------------------------- full test retrieval


@pytest.fixture(scope="module")
def trials():
    """3 subjects, 12 images (subject 2 sees only 9), 1–3 repetitions, noisy predictions."""
    rng = np.random.default_rng(5)
    emb = {f"img{i:02d}.jpg": rng.normal(size=8) for i in range(12)}
    rows = []
    for subj in ("CSI1", "CSI2", "CSI4"):
        names = sorted(emb)[: 9 if subj == "CSI4" else 12]
        for name in names:
            for _ in range(rng.integers(1, 4)):
                rows.append((subj, name))
    rng.shuffle(rows)
    subjects = np.array([r[0] for r in rows])
    images = np.array([r[1] for r in rows])
    targets = np.stack([emb[i] for i in images])
    preds = targets + rng.normal(scale=1.5, size=targets.shape)
    return preds, subjects, images, targets, emb


def ref_full(preds, subjects, images, cand_ids, cand):
    """Aggregations by pandas group-by and the loop reference; {aggregation: (ranks, metrics)}."""
    cand_ids = list(cand_ids)
    n = len(cand_ids)
    df = pd.DataFrame(preds).assign(subject=subjects, image=images)

    def rank_rows(frame):
        s = ref_scores(frame.drop(columns=["subject", "image"], errors="ignore").to_numpy(), cand)
        return [ref_rank(s[q], cand_ids.index(im)) for q, im in enumerate(frame["image"])]

    out = {}
    r = rank_rows(df)
    out["trial"] = (r, ref_metrics(r, n))
    subj_agg = df.groupby(["subject", "image"]).mean().reset_index()
    r = rank_rows(subj_agg)
    out["subject-agg"] = (r, ref_metrics(r, n))
    inst = df.drop(columns="subject").groupby("image").mean().reset_index()
    r = rank_rows(inst)
    out["instance-agg"] = (r, ref_metrics(r, n))
    trial_r = np.array(out["trial"][0])
    per = [ref_metrics(list(trial_r[subjects == s]), n) for s in sorted(set(subjects))]
    out["subject-ind"] = (list(trial_r), {k: np.mean([m[k] for m in per]) for k in per[0]})
    return out, subj_agg, inst


def check_full(got, want, subj_agg, inst, n):
    assert tuple(got) == AGGREGATIONS
    for agg in AGGREGATIONS:
        assert got[agg].n_candidates == n
        assert_metrics(got[agg].metrics(), want[agg][1])
    # the per-query ranks, in pandas' (subject, image) / image order, which is also sorted order
    np.testing.assert_allclose(got["trial"].ranks, want["trial"][0])
    np.testing.assert_allclose(got["subject-agg"].ranks, want["subject-agg"][0])
    np.testing.assert_array_equal(got["subject-agg"].query_subjects, subj_agg["subject"])
    np.testing.assert_array_equal(got["subject-agg"].query_images, subj_agg["image"])
    np.testing.assert_allclose(got["instance-agg"].ranks, want["instance-agg"][0])
    np.testing.assert_array_equal(got["instance-agg"].query_images, inst["image"])
    assert got["instance-agg"].query_subjects is None
    np.testing.assert_array_equal(got["subject-ind"].ranks, got["trial"].ranks)


def test_full_retrieval_from_trial_targets(trials):
    preds, subjects, images, targets, emb = trials
    # per-trial targets that differ between presentations, so the average per image matters
    targets = targets + np.random.default_rng(7).normal(scale=0.5, size=targets.shape)
    # the retrieval set: the targets averaged per image, pooled over subjects (by a loop)
    ids = sorted(set(images))
    cand = np.stack([targets[images == i].mean(axis=0) for i in ids])
    want, subj_agg, inst = ref_full(preds, subjects, images, ids, cand)
    got = full_retrieval(preds, subjects, images, targets)
    check_full(got, want, subj_agg, inst, 12)
    assert got["trial"].n_queries == len(preds)
    assert got["subject-agg"].n_queries == 12 + 12 + 9
    assert got["instance-agg"].n_queries == 12


def test_full_retrieval_from_table_with_extra_candidates(trials):
    preds, subjects, images, _, emb = trials
    table = dict(emb, **{"extra.jpg": np.full(8, 0.3)})  # a candidate no trial saw: a negative
    ids = sorted(table)
    cand = np.stack([table[i] for i in ids])
    want, subj_agg, inst = ref_full(preds, subjects, images, ids, cand)
    got = full_retrieval(preds, subjects, images, table)
    check_full(got, want, subj_agg, inst, 13)
    same = full_retrieval(preds, subjects, images, RetrievalSet(np.array(ids), cand))
    assert same["subject-agg"].metrics() == got["subject-agg"].metrics()


def test_full_retrieval_perfect_predictions():
    rng = np.random.default_rng(6)
    cand = rng.normal(size=(5, 4))
    images = np.array([0, 1, 2, 3, 4, 0, 2])
    got = full_retrieval(cand[images] * 7.0, np.array([1, 1, 1, 1, 1, 2, 2]), images, cand[images])
    for agg in AGGREGATIONS:
        assert got[agg].top1 == 1.0 and got[agg].normalised_rank == 1.0


# ---------------------------------------------------------------- bad input


def test_bad_inputs_raise_one_clear_error(trials):
    preds, subjects, images, targets, emb = trials
    p, y = preds[:4], targets[:4]
    cases = [
        (lambda: scores(p, y[:, :5]), "8 dimensions but candidates 5"),
        (lambda: scores(p[0], y), "expected a non-empty 2-D array"),
        (lambda: scores(np.zeros((0, 8)), y), "got shape (0, 8)"),
        (lambda: scores(np.where(p > 1, np.nan, p), y), "NaN or infinite"),
        (lambda: scores(p, np.full_like(y, np.inf)), "candidates: 4 rows hold NaN"),
        (lambda: ranks(np.ones((2, 3)), np.array([0, 3])), "expected candidate indices in 0..2"),
        (lambda: ranks(np.ones((2, 3)), np.array([0])), "expected 2 integer candidate indices"),
        (lambda: ranks(np.ones((2, 3)), np.array([0.0, 1.0])), "integer candidate indices"),
        (lambda: batch_metrics(p, y[:3]), "expected one target per prediction"),
        (lambda: batch_metrics(p[:1], y[:1]), "expected at least 2"),
        (lambda: full_retrieval(preds, subjects[:-1], images, targets), "subjects: expected one"),
        (lambda: full_retrieval(preds, subjects, images, targets[:-1]), "expected one per trial"),
        (lambda: full_retrieval(preds, subjects, images, {}), "embedding table is empty"),
        (
            lambda: full_retrieval(preds, subjects, images, {k: emb[k] for k in sorted(emb)[:10]}),
            "not in the retrieval set (e.g. ['img10.jpg', 'img11.jpg'])",
        ),
        (
            lambda: full_retrieval(
                preds, subjects, images, {i: v for i, v in enumerate(emb.values())}
            ),
            "cannot be compared",
        ),
        (lambda: full_retrieval(preds[:, :4], subjects, images, targets), "4 dimensions but"),
        (
            lambda: full_retrieval(preds[:2], subjects[:2], np.array(["a", "a"]), targets[:2]),
            "1 candidate image; expected at least 2",
        ),
        (lambda: RetrievalSet(np.array(["a", "a"]), targets[:2]), "repeated image ids"),
        (lambda: RetrievalSet(np.array(["a"]), targets[:2]), "one id per embedding"),
        (lambda: chance_levels(1), "expected at least 2"),
    ]
    for call, message in cases:
        with pytest.raises(DataError) as err:
            call()
        assert message in str(err.value), (message, str(err.value))
