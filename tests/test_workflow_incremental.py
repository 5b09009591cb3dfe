"""Incremental rebuilds and reproducible releases on a tiny configuration (real Snakemake runs)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from bergforge.cli import main as bergforge_cli
from conftest import TINY_CHAIN, TINY_RELEASE, make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

CONFIG = TINY_CHAIN
RELEASE = TINY_RELEASE


def planned_jobs(workdir, *extra: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run would execute."""
    out = run_snakemake(workdir, "-n", *extra).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        head = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not head:
            continue
        wc = re.search(r"^\s*wildcards: (.*)$", block, re.M)
        wildcards = dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {}
        jobs.append((head.group(1), wildcards))
    return jobs


@pytest.fixture
def built(tiny_built):
    return tiny_built


def test_identical_rerun_schedules_nothing(built):
    assert planned_jobs(built, "all", "release") == []
    again = run_snakemake(built, "--cores", "2", "all", "release")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_adding_a_backbone_schedules_only_its_jobs_and_the_aggregates(built):
    cfg = copy.deepcopy(CONFIG)
    cfg["backbones"]["vit_b_32"] = {"weights": "none", "seed": 1}
    (built / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    try:
        jobs = planned_jobs(built)
    finally:
        (built / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    assert jobs, "the new backbone must add work"
    aggregates = {"all", "plan_feature_shards"}
    for rule, wildcards in jobs:
        if rule in aggregates:
            continue
        assert wildcards.get("backbone") == "vit_b_32", (rule, wildcards)
    rules = {rule for rule, _ in jobs}
    assert not rules & {
        "preprocess_eeg_subject",
        "simulate_eeg_subject",
        "simulate_latents",
        "preprocess_meg_subject",
        "simulate_meg_subject",
    }
    assert {"extract_feature_shard", "encode_model"} <= rules


def test_changing_pca_reruns_pca_and_what_depends_on_it_only(built):
    cfg = copy.deepcopy(CONFIG)
    cfg["encoding"]["n_components"] = 3
    (built / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    try:
        rules = {rule for rule, _ in planned_jobs(built)}
    finally:
        (built / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    assert "encode_model" in rules
    assert not rules & {"extract_feature_shard", "preprocess_eeg_subject", "simulate_eeg_subject"}


def test_two_clean_runs_give_identical_manifests_and_a_flip_is_caught(built, tmp_path, capsys):
    other = make_workdir(tmp_path, copy.deepcopy(CONFIG))
    run_snakemake(other, "--cores", "2", "release")
    first = (built / RELEASE / "SHA256SUMS").read_text()
    assert first == (other / RELEASE / "SHA256SUMS").read_text()
    assert (built / f"{RELEASE}.tar.gz").read_bytes() == (other / f"{RELEASE}.tar.gz").read_bytes()
    assert "encoding_models_weights/weights_subject-01.npy" in first

    assert bergforge_cli(["verify-release", str(other / f"{RELEASE}.tar.gz")]) == 0
    weights = next((other / RELEASE).rglob("weights_subject-01.npy"))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert bergforge_cli(["verify-release", str(other / RELEASE)]) == 1
    assert "DIFFERS  encoding_models/" in capsys.readouterr().out


def test_report_holds_the_accuracy_plots_and_captions(built):
    run_snakemake(built, "--report", "report.html")
    html = (built / "report.html").read_text()
    assert "encoding_accuracy_subject-01.png" in html
    assert "Pearson r between predicted and repetition-averaged test responses" in html
