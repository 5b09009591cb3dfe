"""Real Snakemake runs: the demo plans from the root, a tiny config runs, a rerun does nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bergforge.config import REPO_ROOT
from conftest import TINY_EEG, TINY_MEG, run_snakemake, simulate_study

pytestmark = pytest.mark.workflow


def test_demo_plans_from_the_repository_root():
    proc = run_snakemake(REPO_ROOT, "-n", "--forceall", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    for rule in (
        "simulate_meg_images",
        "simulate_eeg_images",
        "simulate_latents",
        "simulate_meg_subject",
        "simulate_eeg_subject",
        "all",
    ):
        assert rule in out


#: libraries no Snakemake start may import: the jobs that need them import them (each cost 0.5–2 s
#: on every Snakemake run, dry runs included)
JOB_ONLY_LIBRARIES = ("matplotlib", "sklearn", "scipy.signal", "torch", "mne", "nilearn")


def test_snakemake_parses_every_stage_without_the_jobs_libraries(monkeypatch):
    """A dry run of demo-extra's config (every stage: encoding, fMRI, decoding, free viewing)."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # the interpreter lists every import
    proc = run_snakemake(
        REPO_ROOT, "-n", "--quiet", "rules", "all", "--configfile", "config/demo_extra.yaml"
    )
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "bergforge.workflow.free_viewing" in imported  # the listing is there
    assert not imported & set(JOB_ONLY_LIBRARIES)


def test_the_demo_parses_without_zarr(monkeypatch):
    """The demo's config (MEG and EEG encoding): its parse names stores and model folders, and
    seals none, so Zarr (0.2–0.5 s a start) stays out (a BOLD5000 dataset still brings it in,
    through its windows' settings)."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    proc = run_snakemake(REPO_ROOT, "-n", "--quiet", "rules", "all")
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "bergforge.workflow.models" in imported  # the listing is there
    assert "zarr" not in imported


def test_lint_is_clean():
    proc = run_snakemake(REPO_ROOT, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_tiny_workflow_ran_and_logged_every_stage(tiny_built):
    workdir = tiny_built
    assert (workdir / "resources/raw/tiny_meg/ground_truth/sub-BIGMEG2_truth.npz").is_file()
    assert (workdir / "resources/raw/tiny/raw_data/sub-01/ses-04/raw_eeg_test.npy").is_file()
    assert (workdir / "logs/simulate/tiny_meg/sub-2.log").is_file()


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("cfg", [TINY_MEG, TINY_EEG], ids=["meg", "eeg"])
def test_simulation_is_byte_identical_across_runs(tmp_path, cfg, request):
    fixture = request.getfixturevalue("tiny_meg" if cfg is TINY_MEG else "tiny_eeg")
    again = simulate_study(cfg, tmp_path / "again")
    first, second = digests(fixture), digests(again)
    assert len(first) > 20
    assert first == second
