"""The scale harness (benchmarks/scale.py) on its cheapest case at tiny fractions: it measures each
point in a child process, fits peak and time linearly against the workflow's size of the inputs,
and prints the full-size prediction beside what the rule declares."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from bergforge.workflow.resources import COEFFICIENTS, declared_mem_mb, declared_runtime
from conftest import REPO

CASE = "fmri_mosaic_betas"
FRACTIONS = ("0.001", "0.002", "0.003")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale") / "scale.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks/scale.py"),
            "--rule",
            CASE,
            "--fractions",
            *FRACTIONS,
            "--full",
            "never",
            "--json",
            str(out),
            "--tmp",
            str(out.parent),
            "--disk-reserve-gb",  # the points need ≈ 0.1 GB; a nearly full disk still runs them
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    case = json.loads(out.read_text())[0]
    unmeasured = [p for p in case["points"] if "peak_mb" not in p]
    assert not unmeasured, unmeasured  # why each was skipped or failed
    return proc.stdout, case


def test_a_case_with_no_measured_point_fails_and_says_why(tmp_path):
    """A table of "none" is no measurement: the harness exits non-zero, naming case and reason."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/scale.py"), "--rule", CASE, "--fractions"]
        + ["0.001", "--full", "never", "--disk-budget-gb", "0", "--tmp", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"no point was measured for {CASE}[nsd] (needs ≈0.1 GB of disk; budget 0.0 GB, free "
        + re.search(r"free (\d+) GB", proc.stderr).group(1)
        + " GB)"
    )
    assert f"| {CASE} | " in proc.stdout  # the table is still printed
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_every_fraction_is_measured_in_its_own_process(run):
    _, case = run
    points = case["points"]
    assert [p["fraction"] for p in points] == [float(f) for f in FRACTIONS]
    for p in points:
        assert p["peak_mb"] >= p["anon_peak_mb"] > 50  # a whole Python process each
        assert p["seconds"] > 0
    # the size is the MOSAIC file the job reads: 30 trials × 91,282 float32 per 0.001 (+ HDF5)
    sizes = np.array([p["units"] for p in points])
    shared_own = [
        (max(3, round(1000 * float(f))), max(2, round(9000 * float(f)))) for f in FRACTIONS
    ]
    trials = np.array([shared + own for shared, own in shared_own]) * 3  # 3 repetitions each
    assert np.all(sizes > trials * 91_282 * 4 / 1e6)
    assert np.all(sizes < (trials + 2) * 91_282 * 4 / 1e6 + 1.0)


def envelope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The least-squares slope (≥ 0) with the intercept raised to cover every point."""
    (_, slope), *_ = np.linalg.lstsq(np.column_stack([np.ones_like(x), x]), y, rcond=None)
    slope = max(slope, 0.0)
    return max((y - slope * x).max(), 0.0), slope


def test_the_fit_covers_the_measured_points_with_their_least_squares_slope(run):
    _, case = run
    points, fit, real = case["points"], case["fit"], case["real"]
    x = np.array([p["units"] for p in points])
    y = np.array([p["peak_mb"] - p["fixed_mb"] for p in points])
    a, b = envelope(x, y)
    assert fit["mem_base_mb"] == pytest.approx(a, rel=1e-6)
    assert fit["mem_mb_per_unit"] == pytest.approx(b, rel=1e-6, abs=1e-9)
    assert np.all(a + b * x >= y - 1e-6)  # no measured peak above the line
    assert fit["full_peak_mb"] == pytest.approx(a + b * real["units"] + real["fixed_mb"], rel=1e-6)
    w = np.array([p["work"] for p in points])
    c, d = envelope(w, np.array([p["seconds"] for p in points]))
    assert fit["full_seconds"] == pytest.approx(c + d * real["work"], rel=1e-6)


def test_the_table_shows_prediction_and_declared_resources(run):
    stdout, case = run
    header = next(line for line in stdout.splitlines() if line.startswith("| rule |"))
    for column in (
        "measured (fraction: peak RSS, time)",
        "predicted peak",
        "predicted time",
        "declared mem_mb",
        "declared runtime",
        "≤ 16 GB",
    ):
        assert column in header
    row = next(line for line in stdout.splitlines() if line.startswith(f"| {CASE} |"))
    model = COEFFICIENTS[f"{CASE}/fmri"]
    mem = declared_mem_mb(model.peak_mb(model.real))
    minutes = declared_runtime(model.seconds(model.real))
    cells = [c.strip() for c in row.strip("|").split("|")]
    measured = [re.fullmatch(r"([\d.]+): ([\d.]+) GB, ([\d.]+) s", m) for m in cells[2].split("; ")]
    assert [m.group(1) for m in measured] == list(FRACTIONS), cells[2]
    for m, p in zip(measured, case["points"], strict=True):  # each point's own peak and time
        assert float(m.group(2)) == pytest.approx(p["peak_mb"] / 1024, abs=0.006)
        assert float(m.group(3)) == pytest.approx(p["seconds"], abs=0.06)
    assert cells[3].startswith("extrapolated ×")
    assert cells[6:8] == [str(mem), f"{minutes} min"]
    assert cells[9] == "yes"  # a job of a real configuration: no "(not configured)" mark
    assert case["declared"] == {"mem_mb": mem, "runtime": minutes}
    predicted = float(re.match(r"([\d.]+) GB", cells[4]).group(1))
    assert predicted == pytest.approx(case["fit"]["full_peak_mb"] / 1024, abs=0.01)


# ------------------------------------------ the trained kinds' cases (--report: nothing is run)

TRAINED = ("fit_mlp", "fit_shared", "evaluate_unseen")
REAL_EPOCHS, RUN_EPOCHS = 200, 2


def trained_points(k: int) -> list[dict]:
    """Measured points as a trained case records them: 2 epochs run, the epoch loop timed apart,
    the job's time projected to 200 epochs (numbers of case ``k``, not of a real run)."""
    points = []
    for i, fraction in enumerate((1 / 64, 1 / 32, 1 / 16)):
        n = 2**i * (k + 1)
        train = 9.0 * n + 2.5  # the 2 epochs' loop
        seconds = train + 40.0 * n + 4.0  # + reading, the PCA, writing
        points.append(
            {
                "fraction": fraction,
                "units": 90.0 * n,
                "work": 1.4e7 * n,
                "fixed_mb": 2384.0 + k,
                "peak_mb": 3000.0 + 1.3 * 90.0 * n + 7.0 * i * i,
                "anon_peak_mb": 2500.0,
                "seconds": seconds,
                "train_seconds": train,
                "epochs_run": RUN_EPOCHS,
                "projected_seconds": seconds - train + train / RUN_EPOCHS * REAL_EPOCHS,
                "gpu_seconds_per_work": 1e-6 * (i + 1),
            }
        )
    return points


def test_the_trained_cases_fit_the_projected_time_and_emit_their_rows(tmp_path):
    from bergforge.workflow.resources import JobModel, Size

    names = [f"{rule}[meg]" for rule in TRAINED]
    measured = tmp_path / "trained.json"
    measured.write_text(
        json.dumps([{"case": n, "points": trained_points(k)} for k, n in enumerate(names)])
    )
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/scale.py"), "--rule", *TRAINED]
        + ["--report", str(measured), "--emit-coefficients"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r'\s+"([\w/]+)": (JobModel\(.*\)),', line)
        if m:
            rows[m.group(1)] = eval(m.group(2), {"JobModel": JobModel, "Size": Size})
    assert sorted(rows) == sorted(f"{r}/{v}" for r in TRAINED for v in ("cpu", "cuda"))
    for k, rule in enumerate(TRAINED):
        points, cpu, gpu = trained_points(k), rows[f"{rule}/cpu"], rows[f"{rule}/cuda"]
        assert cpu.real == COEFFICIENTS[f"{rule}/cpu"].real  # sized as the row's real job
        assert gpu.real == COEFFICIENTS[f"{rule}/cuda"].real
        x = np.array([p["units"] for p in points])
        a, b = envelope(x, np.array([p["peak_mb"] - p["fixed_mb"] for p in points]))
        assert cpu.mem_base_mb == pytest.approx(a, abs=0.501)  # printed in whole MB
        assert cpu.mem_mb_per_unit == pytest.approx(b, rel=1e-5)
        # time: the 200-epoch projection (other time + 100 × the 2 epochs), not the 2-epoch run
        work = np.array([p["work"] for p in points])
        other = np.array([p["seconds"] - p["train_seconds"] for p in points])
        projected = other + np.array([p["train_seconds"] for p in points]) * 100
        c, d = envelope(work, projected)
        assert cpu.seconds_base == pytest.approx(c, abs=0.05)
        assert cpu.seconds_per_work == pytest.approx(d, rel=1e-5)
        assert d > 10 * envelope(work, np.array([p["seconds"] for p in points]))[1]
        assert gpu.seconds_per_work == pytest.approx(2e-6, rel=1e-5)  # the points' mean
        assert gpu.mem_base_mb == pytest.approx(a + 1000, abs=0.501)  # + a CUDA context
    assert "(→ " in proc.stdout  # the table shows each point's projected time
    # the kinds are not in any real configuration: every row's ≤ 16 GB verdict says so
    table = [line for line in proc.stdout.splitlines() if line.startswith(("| fit_", "| eval"))]
    assert len(table) == 6
    assert all(
        line.endswith(("| yes (not configured) |", "| NO (not configured) |")) for line in table
    )
