"""The leaderboard (``bergforge leaderboard``) on evaluation files and fit records written here:
ridge_cv first, seeds as mean ± sd, fit time and memory from ``fit_job.json``, unseen-subject rows
where their evaluation exists; every number checked against a computation written in the test.
Also: ``seeds`` in a kind's settings and the fit record itself."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml

from bergforge import paths
from bergforge.cli import main as bergforge_cli
from bergforge.config import canonical, validate_config
from bergforge.errors import ConfigError, DataError
from bergforge.evaluation.files import write_evaluation
from bergforge.models.fit_record import measured, read_fit_record, write_fit_record
from bergforge.report.leaderboard import build_leaderboard, format_table, read_leaderboard
from bergforge.workflow.leaderboard import leaderboard_runs, write_leaderboard_files
from bergforge.workflow.models import entry_settings, model_entries

SIM = {"seed": 1}
CONFIG = {
    "datasets": {
        "eeg_a": {
            "format": "things_eeg2",
            "source": "simulated",
            "subjects": [1, 2],
            "models": {"linear": {"regression": "ridge_cv"}, "mlp": {}, "toy": {}},
            "simulation": SIM,
        },
        "meg_b": {
            "format": "things_meg1",
            "source": "simulated",
            "subjects": [3],
            "models": {"linear": {}},  # ols: a linear row, but no baseline to compare with
            "simulation": SIM,
        },
    },
    "backbones": {"alexnet_untrained": {}},
    "models": {"mlp": {"seeds": [1, 2, 3]}, "toy": {"backbones": ["alexnet_untrained"]}},
    "model_kinds": {"toy": "toy_kind"},
}
SHAPE = (4, 5)  # [channel, time] targets


def write_run(root: Path, dataset: str, model: str, subject: int, splits: list[str], seed: int):
    """The model's evaluation.npz with random r (a few NaN targets) per split; returns its arrays."""
    folder = root / paths.fill(paths.EVALUATION_DIR, dataset=dataset, model=model, subject=subject)
    return write_evaluation_in(folder, splits, seed)


def write_evaluation_in(folder: Path, splits: list[str], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    corr = rng.uniform(-0.2, 0.9, (len(splits), *SHAPE))
    corr[:, 0, 0] = np.nan
    nc = rng.uniform(20, 90, SHAPE)
    pnc = 100 * np.maximum(corr, 0) ** 2 / (nc / 100)
    arrays = {
        "splits": np.asarray(splits),
        "test_predictions": rng.standard_normal((len(splits), 6, *SHAPE)).astype(np.float32),
        "correlation": corr,
        "noise_ceiling": nc,
        "percent_noise_ceiling": pnc,
    }
    write_evaluation(folder / "evaluation.npz", folder / "summary.json", arrays, {})
    return arrays


def write_unseen(folder: Path) -> list[tuple[float, float]]:
    """An unseen.npz of methods mean_adapter, few_shot, own_linear; their medians."""
    rng = np.random.default_rng(9)
    corr = rng.uniform(-0.3, 0.8, (3, *SHAPE))
    corr[1, 1] = np.nan
    nc = rng.uniform(20, 90, SHAPE)
    pnc = 100 * np.maximum(corr, 0) ** 2 / (nc / 100)
    arrays = {
        "methods": np.asarray(["mean_adapter", "few_shot", "own_linear"]),
        "correlation": corr,
        "percent_noise_ceiling": pnc,
        "noise_ceiling": nc,
    }
    write_evaluation(folder / "unseen.npz", folder / "summary.json", arrays, {})
    return [
        (float(np.median(c[np.isfinite(c)])), float(np.median(p[np.isfinite(p)])))
        for c, p in zip(corr, pnc, strict=True)
    ]


def fit_record(root: Path, dataset: str, model: str, subject: int, seconds: float, mb: float):
    folder = root / paths.fill(
        paths.SUBJECT_MODEL_DIR, dataset=dataset, model=model, subject=subject, split="all"
    )
    folder.mkdir(parents=True)
    record = {"wall_seconds": seconds, "peak_rss_mb": mb, "peak_rss_children_mb": 0.0}
    (folder / "fit_job.json").write_text(json.dumps(record))


def scored(arrays) -> tuple[float, float]:
    """The reference: medians over the finite targets of split `all`."""
    i = list(arrays["splits"]).index("all")
    r, pnc = arrays["correlation"][i], arrays["percent_noise_ceiling"][i]
    return float(np.median(r[np.isfinite(r)])), float(np.median(pnc[np.isfinite(pnc)]))


@pytest.fixture
def study(tmp_path, monkeypatch):
    """Evaluation files and fit records of CONFIG under tmp_path; the toy kind is made one that
    predicts unseen subjects, with an unseen-subject evaluation of subject 1 only."""
    from toy_kind import KIND as TOY

    monkeypatch.setattr(TOY, "unseen_subjects", True, raising=False)
    root = tmp_path / "work"
    ref: dict = {}
    # splits out of order: the scored split is found by its name
    for s in (1, 2):
        ref["ridge", s] = scored(
            write_run(root, "eeg_a", "alexnet_untrained", s, ["single-1", "all"], 10 + s)
        )
        fit_record(root, "eeg_a", "alexnet_untrained", s, 2.0 + s, 300.0)
        for seed in (1, 2, 3):
            model = f"mlp_alexnet_untrained_seed{seed}"
            ref["mlp", s, seed] = scored(
                write_run(root, "eeg_a", model, s, ["all"], 100 * s + seed)
            )
            if (s, seed) != (2, 3):  # a fit from before the record existed
                fit_record(root, "eeg_a", model, s, 10.0 * seed, 400.0 + seed)
        ref["toy", s] = scored(
            write_run(root, "eeg_a", "toy_alexnet_untrained", s, ["all"], 50 + s)
        )
    # the shared kind's unseen.npz: one r per method, the subject's own linear model last
    unseen = write_unseen(root / "results/evaluation/eeg_a/toy_alexnet_untrained/unseen/sub-01")
    ref["mean_adapter"], ref["few_shot"] = unseen[0], unseen[1]
    ref["ols", 3] = scored(write_run(root, "meg_b", "alexnet_untrained", 3, ["all"], 3))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG))
    return root, config_file, ref


def test_leaderboard_cli_numbers_equal_a_direct_computation(study, capsys):
    root, config_file, ref = study
    args = ["leaderboard", "--configfile", str(config_file), "--directory", str(root)]
    assert bergforge_cli([*args, "--format", "json"]) == 0
    out = capsys.readouterr()
    board = json.loads(out.out)
    left_out = [ln for ln in out.err.splitlines() if "not evaluated yet" in ln]
    assert left_out == [
        f"not evaluated yet (left out): {root}/results/evaluation/eeg_a/toy_alexnet_untrained/"
        "unseen/sub-02/unseen.npz"
    ]
    rows = [(r["dataset"], r["subject"], r["model"]) for r in board["subjects"]]
    assert rows == [
        ("eeg_a", 1, "ridge_cv"),
        ("eeg_a", 1, "mlp"),
        ("eeg_a", 1, "toy"),
        ("eeg_a", 1, "toy (unseen: mean_adapter)"),
        ("eeg_a", 1, "toy (unseen: few_shot)"),
        ("eeg_a", 2, "ridge_cv"),
        ("eeg_a", 2, "mlp"),
        ("eeg_a", 2, "toy"),
        ("meg_b", 3, "ols"),
    ]
    by = {(r["subject"], r["model"]): r for r in board["subjects"]}
    for s in (1, 2):
        base = by[s, "ridge_cv"]
        assert (base["median_r"], base["median_pnc"]) == pytest.approx(ref["ridge", s])
        assert base["median_r_sd"] is None and base["n_seeds"] == 1 and base["delta_pnc"] == 0
        assert (base["fit_seconds"], base["peak_mb"]) == (2.0 + s, 300.0)
        mlp = by[s, "mlp"]
        seeds = [ref["mlp", s, seed] for seed in (1, 2, 3)]
        assert mlp["n_seeds"] == 3 and mlp["seeds"] == [1, 2, 3]
        assert mlp["median_r"] == pytest.approx(statistics.mean(r for r, _ in seeds))
        assert mlp["median_r_sd"] == pytest.approx(statistics.stdev(r for r, _ in seeds))
        assert mlp["median_pnc"] == pytest.approx(statistics.mean(p for _, p in seeds))
        assert mlp["median_pnc_sd"] == pytest.approx(statistics.stdev(p for _, p in seeds))
        assert mlp["delta_pnc"] == pytest.approx(mlp["median_pnc"] - ref["ridge", s][1])
        toy = by[s, "toy"]
        assert toy["median_pnc"] == pytest.approx(ref["toy", s][1])
        assert toy["fit_seconds"] is None  # no fit record at all
    assert (by[1, "mlp"]["fit_seconds"], by[1, "mlp"]["peak_mb"]) == (20.0, 403.0)
    assert by[2, "mlp"]["fit_seconds"] is None  # one seed's fit predates the record
    for method in ("mean_adapter", "few_shot"):
        unseen = by[1, f"toy (unseen: {method})"]
        assert (unseen["median_r"], unseen["median_pnc"]) == pytest.approx(ref[method])
        assert unseen["fit_seconds"] is None and unseen["n_seeds"] == 1
    ols = by[3, "ols"]
    assert ols["median_pnc"] == pytest.approx(ref["ols", 3][1]) and ols["delta_pnc"] is None

    means = {(m["dataset"], m["model"]): m for m in board["means"]}
    assert [m["model"] for m in board["means"]][0] == "ridge_cv"
    mlp_mean = means["eeg_a", "mlp"]
    per_subject = [by[s, "mlp"]["median_pnc"] for s in (1, 2)]
    assert mlp_mean["median_pnc"] == pytest.approx(statistics.mean(per_subject))
    assert mlp_mean["median_pnc_sd"] == pytest.approx(statistics.stdev(per_subject))
    ridge_mean = statistics.mean(ref["ridge", s][1] for s in (1, 2))
    assert mlp_mean["delta_pnc"] == pytest.approx(mlp_mean["median_pnc"] - ridge_mean)
    assert mlp_mean["n_subjects"] == 2

    assert bergforge_cli(args) == 0
    table = capsys.readouterr().out
    first = table.splitlines()[2].split()
    assert first[:4] == ["eeg_a", "alexnet_untrained", "ridge_cv", "01"]
    mlp_line = next(ln for ln in table.splitlines() if " mlp " in ln and " 01 " in ln)
    assert f"{by[1, 'mlp']['median_pnc']:.1f} ± {by[1, 'mlp']['median_pnc_sd']:.1f}" in mlp_line
    assert "mean over subjects" in table


def test_leaderboard_files_round_trip_and_plot(study, tmp_path):
    root, config_file, _ = study
    config = canonical(validate_config(yaml.safe_load(config_file.read_text())))
    out = tmp_path / "out"
    board = write_leaderboard_files(config, root, out / "lb.json", out / "lb.tsv", out / "lb.png")
    again = read_leaderboard(out / "lb.json")
    assert again.subjects == board.subjects and again.means == board.means
    lines = (out / "lb.tsv").read_text().splitlines()
    assert len(lines) == 1 + len(board.subjects) and lines[1].split("\t")[2] == "ridge_cv"
    assert (out / "lb.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert format_table(board.subjects).count("\n") == len(board.subjects) + 1
    with pytest.raises(DataError, match="expected the tables"):
        (out / "bad.json").write_text("{}")
        read_leaderboard(out / "bad.json")


def test_a_missing_evaluation_is_one_clear_error(study):
    root, config_file, _ = study
    config = canonical(validate_config(yaml.safe_load(config_file.read_text())))
    runs, _ = leaderboard_runs(config, root)
    runs[0].evaluation.unlink()
    with pytest.raises(DataError, match="missing evaluation file .*eeg_a/alexnet_untrained/sub-01"):
        build_leaderboard(runs)
    with pytest.raises(DataError, match="no evaluated models"):
        build_leaderboard([])


def test_seeds_make_one_model_per_seed_with_that_seed_setting():
    config = canonical(validate_config(json.loads(json.dumps(CONFIG))))
    mlp = [e for e in model_entries(config) if e.kind == "mlp"]
    assert [(e.model, e.seed) for e in mlp] == [
        (f"mlp_alexnet_untrained_seed{s}", s) for s in (1, 2, 3)
    ]
    assert [entry_settings(config, e)["seed"] for e in mlp] == [1, 2, 3]
    assert "seeds" not in entry_settings(config, mlp[0])  # a selection key, not a fit setting
    linear = next(e for e in model_entries(config) if e.kind == "linear")
    assert linear.model == "alexnet_untrained" and linear.seed is None

    bad = json.loads(json.dumps(CONFIG))
    bad["datasets"]["eeg_a"]["models"]["linear"]["seeds"] = [1, 2]
    with pytest.raises(ConfigError, match="`seeds` needs a seeded kind .* 'linear' is not"):
        model_entries(bad)
    bad = json.loads(json.dumps(CONFIG))
    bad["datasets"]["eeg_a"]["models"]["mlp"]["seeds"] = [1, 1]
    with pytest.raises(ConfigError, match="expected a non-empty list of distinct integers"):
        model_entries(bad)
    with pytest.raises(ConfigError, match="seeds"):
        validate_config(bad | {"models": {"mlp": {"seeds": []}}})


def test_fit_record_measures_time_and_peak_memory(tmp_path):
    with measured({"kind": "x"}) as record:
        block = np.ones(12_500_000)  # 100 MB, touched
        assert block.sum() > 0
    assert record["kind"] == "x" and record["wall_seconds"] >= 0 and record["cpu_seconds"] >= 0
    physical_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e6
    assert 100 <= record["peak_rss_mb"] < physical_mb and record["gpu_peak_mb"] is None
    assert read_fit_record(tmp_path) is None  # a folder fitted before the record existed
    write_fit_record(tmp_path, record)
    assert read_fit_record(tmp_path) == record
    (tmp_path / "fit_job.json").write_text("[1]")
    with pytest.raises(DataError, match="expected a JSON object with wall_seconds"):
        read_fit_record(tmp_path)
