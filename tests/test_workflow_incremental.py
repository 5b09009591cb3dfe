"""Incremental rebuilds and reproducible releases on a tiny configuration (real Snakemake runs)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bergforge.cli import main as bergforge_cli
from bergforge.release import verify_release
from bergforge.workflow.targets import release_export_files, release_seed_files
from conftest import TINY_CHAIN, TINY_RELEASE, make_workdir, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow

CONFIG = TINY_CHAIN
RELEASE = TINY_RELEASE


@pytest.fixture
def built(tiny_built):
    return tiny_built


def test_identical_rerun_schedules_nothing(built):
    again = run_snakemake(built, "--cores", "2", "all", "release")
    out = again.stdout + again.stderr
    jobs = re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", out, re.M)
    assert "Nothing to be done" in out and not jobs, f"ran {jobs}:\n{out[-3000:]}"


def test_adding_a_backbone_schedules_only_its_jobs_and_the_aggregates(built):
    cfg = copy.deepcopy(CONFIG)
    cfg["backbones"]["vit_b_32"] = {"weights": "none", "seed": 1}
    (built / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    try:
        jobs = planned_jobs(built)
    finally:
        (built / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    assert jobs, "the new backbone must add work"
    aggregates = {"all", "plan_feature_shards", "summary_page", "leaderboard", "berg_manifest"}
    for rule, wildcards in jobs:
        if rule in aggregates:
            continue
        # the backbone names the feature folder and, for linear models, the model folder
        assert wildcards.get("backbone", wildcards.get("model")) == "vit_b_32", (rule, wildcards)
    rules = {rule for rule, _ in jobs}
    assert not rules & {
        "preprocess_eeg_subject",
        "simulate_eeg_subject",
        "simulate_latents",
        "preprocess_meg_subject",
        "simulate_meg_subject",
    }
    assert {"extract_feature_shard", "fit_linear", "berg_manifest"} <= rules


def test_changing_pca_reruns_pca_and_what_depends_on_it_only(built):
    cfg = copy.deepcopy(CONFIG)
    cfg["models"]["linear"]["n_components"] = 3
    (built / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    try:
        rules = {rule for rule, _ in planned_jobs(built)}
    finally:
        (built / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    assert "fit_linear" in rules
    assert not rules & {"extract_feature_shard", "preprocess_eeg_subject", "simulate_eeg_subject"}


@pytest.mark.long
def test_two_clean_runs_give_identical_manifests_and_a_flip_is_caught(built, tmp_path, capsys):
    """A second clean run from the same raw data (as a second user's download; the simulation's
    own reproducibility is test_workflow_foundation's) releases the same bytes."""
    other = make_workdir(tmp_path, copy.deepcopy(CONFIG))
    shutil.copytree(built / "resources" / "raw", other / "resources" / "raw", symlinks=True)
    assert not (other / "results").exists()
    run = run_snakemake(other, "--cores", "2", "release")
    assert "rule preprocess_eeg_subject:" in run.stdout + run.stderr  # clean: everything after raw
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


def released_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_fresh_release_verifies_as_folder_and_as_archive(built):
    folder, archive = built / RELEASE, built / f"{RELEASE}.tar.gz"
    listed = [ln.split("  ", 1)[1] for ln in (folder / "SHA256SUMS").read_text().splitlines()]
    assert released_files(folder) == sorted([*listed, "SHA256SUMS"])  # no .snakemake_timestamp
    assert verify_release(folder).ok and verify_release(archive).ok
    exe = Path(sys.executable).parent / "bergforge"
    for target in (folder, archive):
        proc = subprocess.run([str(exe), "verify-release", str(target)], capture_output=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def job_inputs(output: str, rule: str) -> set[str]:
    """The inputs Snakemake printed for the job of ``rule`` in a run's ``output``."""
    block = re.search(rf"rule {rule}:\n(.*?)\n\n", output + "\n\n", re.S).group(1)
    return set(re.search(r"^\s*input: (.*)$", block, re.M).group(1).split(", "))


def test_the_release_reads_only_its_declared_inputs(built, tmp_path):
    """Stray models and export files of an old config never reach the release or its seeds."""
    work = tmp_path / "work"
    shutil.copytree(built, work, symlinks=True)
    stray_model = work / "results/models/tiny/old_backbone/sub-01/split-all/model.json"
    stray_model.parent.mkdir(parents=True)
    stray_model.write_text(json.dumps({"seeds": {"pca": 123, "split_permutation": 1}}))
    old_tree = work / "results/berg/encoding_models/modality-eeg/train_dataset-old/model-x"
    (old_tree / "metadata").mkdir(parents=True)
    (old_tree / "metadata" / "metadata_subject-01.npy").write_bytes(b"stale")
    rerun = run_snakemake(work, "--cores", "1", "--forcerun", "build_release", "release")

    models = "results/models/tiny/alexnet_untrained/sub-01"
    inputs = job_inputs(rerun.stdout + rerun.stderr, "build_release")
    assert inputs == set(release_export_files(CONFIG) + release_seed_files(CONFIG))
    assert f"{models}/split-all/model.json" in inputs  # read by the evaluation in the metadata
    prov = json.loads((built / RELEASE / "provenance.json").read_text())
    assert set(prov["seeds"]) == {
        p.removeprefix("results/models/").rsplit("/", 1)[0]
        for p in inputs
        if p.startswith("results/models/")
    }
    # beyond the inputs: the release's manifest and provenance, and the files an own-layout model
    # folder's SHA256SUMS (an input) lists
    own = {
        f"{Path(p).parent.as_posix()}/{line.split('  ', 1)[1]}"
        for p in inputs
        if p.endswith("/SHA256SUMS")
        for line in (work / p).read_text().splitlines()
    }
    assert own, "the tiny chain exports a model in bergforge's own layout"
    assert {f"results/berg/{f}" for f in released_files(built / RELEASE)} - inputs == {
        "results/berg/SHA256SUMS",
        "results/berg/provenance.json",
    } | (own - inputs)
    for name in (f"{RELEASE}/SHA256SUMS", f"{RELEASE}/provenance.json", f"{RELEASE}.tar.gz"):
        assert (work / name).read_bytes() == (built / name).read_bytes(), name
    assert "train_dataset-old" not in " ".join(released_files(work / RELEASE))
    assert verify_release(work / RELEASE).ok and verify_release(work / f"{RELEASE}.tar.gz").ok


def test_report_holds_the_accuracy_plots_and_captions(built):
    run_snakemake(built, "--report", "report.html")
    html = (built / "report.html").read_text()
    assert "encoding_accuracy_subject-01.png" in html
    assert "Pearson r between predicted and repetition-averaged test responses" in html


def test_adding_a_subject_schedules_its_jobs_and_those_that_pool_subjects(built):
    """MEG/EEG: only the new subject's jobs, plus the card, summary page, export tree manifest and
    release that gather subjects."""
    cfg = copy.deepcopy(CONFIG)
    cfg["datasets"]["tiny_meg"]["subjects"] = [2, 3]
    (built / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    try:
        jobs = planned_jobs(built, "all", "release")
    finally:
        (built / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    pooled = {"model_card", "summary_page", "leaderboard", "berg_manifest", "build_release"}
    pooled |= {"all", "release"}
    per_subject = [(rule, wc) for rule, wc in jobs if rule not in pooled]
    assert {rule for rule, _ in per_subject} == {
        "simulate_meg_subject",
        "simulate_prepared_truth",
        "preprocess_meg_subject",
        "summary_section",
        "fit_linear",
        "evaluate_subject",
        "export_meg_subject",
        "plot_meg_accuracy",
    }
    assert all(int(wc["subject"]) == 3 for _, wc in per_subject), per_subject
    assert all(wc.get("dataset", "tiny_meg") == "tiny_meg" for _, wc in per_subject)
    assert sum(rule == "fit_linear" for rule, _ in per_subject) == 5  # all + 4 single splits
    cards = [wc for rule, wc in jobs if rule == "model_card"]
    assert cards == [
        {"modality": "meg", "berg_dataset": "things_meg_1", "backbone": "alexnet_untrained"}
    ]
    assert {rule for rule, _ in jobs} >= {"model_card", "berg_manifest", "build_release"}
