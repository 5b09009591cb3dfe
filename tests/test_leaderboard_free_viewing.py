"""The free-viewing leaderboard rows (bergforge.report.leaderboard_free_viewing) from evaluation
JSON written here: one row per model, one row for a seeded kind's seeds (their mean, the sd with
ddof 1, the peak of the mean curve), Δ against ridge_cv, a model scored on several subjects
(leave-one-subject-out) one mean row more, and one clear error for seeds scored at different
times or a file that is not an evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bergforge.errors import DataError
from bergforge.report.leaderboard_free_viewing import (
    FreeViewingRun,
    format_free_viewing_tsv,
    free_viewing_rows,
)

TIMES = [0.09, 0.11, 0.13]


def _evaluation(
    path: Path,
    curve: list[float],
    times=TIMES,
    fit_seconds: float = 10.0,
    ceiling: float = 0.5,
    forwards: int = 20,
) -> Path:
    path.write_text(
        json.dumps(
            {
                "median_r_at_latency": curve[1],
                "median_r_per_time": curve,
                "times": times,
                "latency": 0.11,
                "n_fixations": 200,
                "trained_on": [1, 2],
                "ceiling_r_median": ceiling,
                "feature_cost": {"seconds": 0.4, "forwards": forwards, "peak_rss_mb": 900.0},
                "fit_seconds": fit_seconds,
            }
        )
    )
    return path


def _run(
    path: Path, kind: str, seed: int | None = None, stream: str = "dual", subject: int = 60
) -> FreeViewingRun:
    return FreeViewingRun("avs", "alexnet", "gaze", stream, kind, subject, path, seed)


def test_a_kinds_seeds_make_one_row_of_their_mean_and_sd(tmp_path):
    curves = {0: [0.10, 0.30, 0.20], 1: [0.12, 0.26, 0.28], 2: [0.11, 0.31, 0.20]}
    seeds = [
        _run(_evaluation(tmp_path / f"s{s}.json", c, fit_seconds=10.0 * (s + 1)), "shared", s)
        for s, c in curves.items()
    ]
    ridge = _run(_evaluation(tmp_path / "ridge.json", [0.05, 0.25, 0.10]), "ridge_cv")
    rows = free_viewing_rows([*seeds, ridge])
    assert [r.kind for r in rows] == ["ridge_cv", "shared"]  # the baseline first
    base, shared = rows
    at = [c[1] for c in curves.values()]
    assert shared.seeds == [0, 1, 2] and base.seeds == []
    assert shared.median_r == pytest.approx(np.mean(at))
    assert shared.median_r_sd == pytest.approx(np.std(at, ddof=1))
    assert base.median_r_sd is None and base.delta_r is None
    assert shared.delta_r == pytest.approx(np.mean(at) - 0.25)
    mean_curve = np.mean(list(curves.values()), axis=0)  # [0.11, 0.29, 0.2267]: peak at 110 ms
    assert shared.peak_median_r == pytest.approx(mean_curve.max())
    assert shared.peak_ms == pytest.approx(110.0)
    assert shared.fit_seconds == pytest.approx(20.0)
    assert shared.percent_of_ceiling == pytest.approx(100 * np.mean(at) / 0.5)
    lines = format_free_viewing_tsv(rows).splitlines()
    assert lines[2].split("\t")[5] == "0,1,2"
    assert f"{np.mean(at):.3f} ± {np.std(at, ddof=1):.3f} (110 ms)" in lines[2]


def test_streams_are_rows_of_their_own(tmp_path):
    runs = [
        _run(_evaluation(tmp_path / f"{stream}.json", [0.1, r, 0.1]), "shared", 0, stream)
        for stream, r in (("foveal", 0.2), ("dual", 0.3))
    ]
    rows = free_viewing_rows(runs)
    assert [(r.stream, r.median_r, r.median_r_sd) for r in rows] == [
        ("dual", 0.3, None),
        ("foveal", 0.2, None),
    ]


def test_seeds_scored_at_different_times_are_one_clear_error(tmp_path):
    runs = [
        _run(_evaluation(tmp_path / "a.json", [0.1, 0.2, 0.3]), "shared", 0),
        _run(
            _evaluation(tmp_path / "b.json", [0.1, 0.2, 0.3], times=[0.1, 0.11, 0.12]), "shared", 1
        ),
    ]
    with pytest.raises(DataError, match="scored at different times"):
        free_viewing_rows(runs)


def test_a_file_that_is_not_an_evaluation_is_one_clear_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"median_r_at_latency": 0.2}))
    with pytest.raises(DataError, match="expected the JSON of rule evaluate_fixations"):
        free_viewing_rows([_run(path, "ridge_cv")])


def test_a_model_scored_on_several_subjects_gets_a_mean_row(tmp_path):
    """Leave-one-subject-out: 3 scored subjects × (ridge_cv, shared over 2 seeds). The mean row
    of each kind is checked against a direct computation from the curves written here."""
    rng = np.random.default_rng(7)
    subjects, seeds = [1, 2, 60], [0, 1]
    ceilings = {1: 0.4, 2: 0.5, 60: 0.45}
    ridge = {s: rng.uniform(0.1, 0.4, 3) for s in subjects}
    shared = {(s, k): rng.uniform(0.1, 0.4, 3) for s in subjects for k in seeds}
    shared[(2, 0)][1] = shared[(2, 1)][1] = ridge[2][1] - 0.05  # behind the baseline on sub-02
    for s in (1, 60):
        for k in seeds:
            shared[(s, k)][1] = ridge[s][1] + 0.02 * (k + 1)  # ahead on sub-01 and sub-60
    runs = [
        _run(
            _evaluation(tmp_path / f"r{s}.json", list(c), ceiling=ceilings[s], forwards=s),
            "ridge_cv",
            subject=s,
        )
        for s, c in ridge.items()
    ]
    runs += [
        _run(
            _evaluation(tmp_path / f"s{s}_{k}.json", list(c), ceiling=ceilings[s], forwards=s),
            "shared",
            k,
            subject=s,
        )
        for (s, k), c in shared.items()
    ]
    rows = free_viewing_rows(runs[::-1])  # the order given does not matter
    assert [(r.subject, r.kind) for r in rows] == [
        (1, "ridge_cv"),
        (1, "shared"),
        (2, "ridge_cv"),
        (2, "shared"),
        (60, "ridge_cv"),
        (60, "shared"),
        (None, "ridge_cv"),
        (None, "shared"),
    ]
    base, mean = rows[-2:]
    assert base.is_mean and mean.is_mean and mean.scored == subjects == base.scored
    ridge_at = np.mean([ridge[s][1] for s in subjects])
    seed_means = [np.mean([shared[(s, k)][1] for s in subjects]) for k in seeds]
    assert base.median_r == pytest.approx(ridge_at) and base.median_r_sd is None
    assert mean.median_r == pytest.approx(np.mean(seed_means))
    assert mean.seed_median_r == pytest.approx(seed_means)
    assert mean.median_r_sd == pytest.approx(np.std(seed_means, ddof=1))
    assert mean.delta_r == pytest.approx(np.mean(seed_means) - ridge_at)
    assert mean.ahead == 2 and base.ahead is None
    curve = np.mean([shared[(s, k)] for s in subjects for k in seeds], axis=0)
    assert mean.peak_median_r == pytest.approx(curve.max())
    assert mean.peak_ms == pytest.approx(1e3 * TIMES[int(np.argmax(curve))])
    assert mean.ceiling_r == pytest.approx(np.mean(list(ceilings.values())))
    assert mean.percent_of_ceiling == pytest.approx(100 * mean.median_r / mean.ceiling_r)
    assert mean.n_fixations == 600 and mean.feature_forwards == 1 + 2 + 60
    per_subject = {r.subject: r for r in rows if r.kind == "shared" and not r.is_mean}
    assert per_subject[2].delta_r < 0 < per_subject[60].delta_r
    last = format_free_viewing_tsv(rows).splitlines()[-1].split("\t")
    assert last[6] == "mean of 3" and last[10] == "2 of 3"
