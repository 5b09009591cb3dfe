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

#: a ``sitecustomize`` that writes the modules of the process (``sys.modules``, so also those that
#: ``importlib.import_module`` loads, which ``-X importtime`` does not list) when it exits
MODULES_AT_EXIT = """
import atexit, os, sys
atexit.register(
    lambda: open(os.environ["BERGFORGE_MODULES_AT_EXIT"], "w").write("\\n".join(sorted(sys.modules)))
)
"""


def parsed_modules(tmp_path: Path, monkeypatch, *args: str) -> set[str]:
    """The modules a dry run of Snakemake (``args``) imported into its process."""
    (tmp_path / "sitecustomize.py").write_text(MODULES_AT_EXIT)
    listing = tmp_path / "modules.txt"
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("BERGFORGE_MODULES_AT_EXIT", str(listing))
    run_snakemake(REPO_ROOT, "-n", "--quiet", "rules", *args)
    return set(listing.read_text().splitlines())


@pytest.mark.parametrize("configfile", [None, "config/demo_extra.yaml"], ids=["demo", "extra"])
def test_the_demos_parse_without_the_jobs_libraries_or_zarr(tmp_path, monkeypatch, configfile):
    """A dry run of the demos' configs (MEG and EEG encoding; the extra one every stage:
    encoding, fMRI, BOLD5000 and EEG decoding, free viewing): no job's library is imported, and
    as the parse names stores and model folders and seals none, Zarr (0.2–0.5 s a start) stays
    out, and so do the simulators' and the projection's SciPy and the free-viewing networks
    (their settings are read from modules of their own)."""
    extra = ["--configfile", configfile] if configfile else []
    imported = parsed_modules(tmp_path, monkeypatch, *extra, "--", "all")
    assert "bergforge.workflow.models" in imported  # the listing is there
    assert not imported & set(JOB_ONLY_LIBRARIES)
    assert "zarr" not in imported
    if configfile:  # the settings of a BOLD5000 study and of the free-viewing kinds were read
        assert "bergforge.workflow.free_viewing" in imported
        read = {
            "bergforge.preprocess.bold_window_settings",
            "bergforge.simulate.bold5000_settings",
            "bergforge.models.fixations.settings",
        }
        assert read <= imported
        heavy = {
            "bergforge.simulate.bold5000",
            "bergforge.preprocess.sphere_projection",
            "bergforge.models.fixations.model",
        }
        assert not heavy & imported


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
