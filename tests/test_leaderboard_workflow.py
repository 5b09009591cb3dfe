"""The leaderboard in the workflow: an mlp with two seeds added to a copy of the tiny build; only
its fits, evaluations and the leaderboard run. Each seed is its own folder fitted with that seed,
the generic fit job records time and peak memory in ``fit_job.json`` (sealed with the folder),
and rule ``leaderboard`` and ``bergforge leaderboard`` give the numbers computed here from the
evaluation files and fit records."""

from __future__ import annotations

import json
import re
import shutil
import statistics

import numpy as np
import pytest
import yaml

from bergforge import paths
from bergforge.cli import main as bergforge_cli
from conftest import run_snakemake

pytestmark = pytest.mark.workflow

SEEDS = (1, 2)
SETTINGS = {"backbones": ["alexnet_untrained"], "n_components": 4, "pca": {"block_size": 50000}}
SETTINGS |= {"hidden": 16, "max_epochs": 4, "patience": 4, "batch_size": 4, "device": "cpu"}
SETTINGS |= {"seeds": list(SEEDS)}


def model_dir(model: str) -> str:
    return paths.fill(paths.SUBJECT_MODEL_DIR, dataset="tiny", model=model, subject=1, split="all")


def medians(work, model: str, dataset: str = "tiny", subject: int = 1) -> tuple[float, float]:
    """Median r and % NC over the finite targets of split `all`, read here from evaluation.npz."""
    path = work / paths.fill(paths.EVALUATION, dataset=dataset, model=model, subject=subject)
    with np.load(path) as ev:
        i = [str(s) for s in ev["splits"]].index("all")
        r, pnc = ev["correlation"][i], ev["percent_noise_ceiling"][i]
    return float(np.median(r[np.isfinite(r)])), float(np.median(pnc[np.isfinite(pnc)]))


def test_seeded_mlp_models_reach_the_leaderboard_with_their_fit_costs(tiny_built, tmp_path, capsys):
    work = tmp_path / "work"
    shutil.copytree(tiny_built, work, symlinks=True)  # mtimes and .snakemake metadata kept
    config_file = work / "config/config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["datasets"]["tiny"]["models"]["mlp"] = SETTINGS
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))

    run = run_snakemake(work, "--cores", "2", paths.LEADERBOARD_JSON, "--quiet", "rules")
    table = run.stdout + run.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    assert jobs == {"fit_mlp": "2", "evaluate_subject": "2", "leaderboard": "1", "total": "5"}

    # one folder per seed, fitted with that seed; the fit job's record is sealed with the folder
    records, weights = {}, {}
    for seed in SEEDS:
        folder = work / model_dir(f"mlp_alexnet_untrained_seed{seed}")
        assert json.loads((folder / "model.json").read_text())["settings"]["seed"] == seed
        listed = json.loads((folder / "checksums.json").read_text())["files"]
        assert sorted(listed) == ["fit_job.json", "model.json", "weights.safetensors"]
        records[seed] = json.loads((folder / "fit_job.json").read_text())
        weights[seed] = (folder / "weights.safetensors").read_bytes()
        assert records[seed]["kind"] == "mlp" and records[seed]["device"] == "cpu"
        assert records[seed]["wall_seconds"] > 0 and records[seed]["peak_rss_mb"] > 50
    assert weights[1] != weights[2]
    linear_record = json.loads(
        (tiny_built / model_dir("alexnet_untrained") / "fit_job.json").read_text()
    )
    assert linear_record["kind"] == "linear" and linear_record["threads"] >= 1

    board = json.loads((work / paths.LEADERBOARD_JSON).read_text())
    rows = [(r["dataset"], r["subject"], r["model"]) for r in board["subjects"]]
    assert rows == [
        ("tiny", 1, "ols"),  # the tiny build's linear models use OLS: no ridge_cv row here
        ("tiny", 1, "mlp"),  # then the other kinds in the workflow's (sorted) config order
        ("tiny", 1, "toy"),
        ("tiny_meg", 2, "ols"),
    ]
    mlp = board["subjects"][1]
    per_seed = [medians(work, f"mlp_alexnet_untrained_seed{s}") for s in SEEDS]
    assert mlp["seeds"] == list(SEEDS) and mlp["n_seeds"] == 2
    assert mlp["median_r"] == pytest.approx(statistics.mean(r for r, _ in per_seed))
    assert mlp["median_r_sd"] == pytest.approx(statistics.stdev(r for r, _ in per_seed))
    assert mlp["median_pnc"] == pytest.approx(statistics.mean(p for _, p in per_seed))
    assert mlp["median_pnc_sd"] == pytest.approx(statistics.stdev(p for _, p in per_seed))
    assert mlp["fit_seconds"] == pytest.approx(
        statistics.mean(r["wall_seconds"] for r in records.values())
    )
    assert mlp["peak_mb"] == pytest.approx(
        max(max(r["peak_rss_mb"], r["peak_rss_children_mb"]) for r in records.values())
    )
    ols = board["subjects"][0]
    assert (ols["median_r"], ols["median_pnc"]) == pytest.approx(medians(work, "alexnet_untrained"))
    assert ols["fit_seconds"] == pytest.approx(linear_record["wall_seconds"])  # split all's fit
    tsv = (work / paths.LEADERBOARD_TSV).read_text().splitlines()
    assert [line.split("\t")[2] for line in tsv[1:]] == ["ols", "mlp", "toy", "ols"]

    # the command line computes the same table from the same files
    args = ["leaderboard", "--configfile", str(config_file), "--directory", str(work)]
    assert bergforge_cli([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["subjects"] == board["subjects"]
