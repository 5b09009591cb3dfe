"""A real single-node SLURM cluster: `snakemake --profile slurm` runs a tiny config through sbatch."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bergforge.config import REPO_ROOT
from conftest import TINY_EEG, TINY_MEG, make_workdir, run_snakemake

CLUSTER = Path(__file__).parent / "slurm" / "cluster.sh"
REQUIRED = os.environ.get("BERGFORGE_REQUIRE_SLURM") == "1"


def test_default_profile_does_not_override_the_slurm_profile():
    default = yaml.safe_load((REPO_ROOT / "profiles/default/profile.yaml").read_text())
    slurm = yaml.safe_load((REPO_ROOT / "profiles/slurm/profile.yaml").read_text())
    assert slurm["executor"] == "slurm"
    assert not set(default) & set(slurm), "the auto-loaded workflow profile would win over slurm's"
    assert (REPO_ROOT / "slurm").resolve() == (REPO_ROOT / "profiles/slurm").resolve()


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    missing = [t for t in ("slurmctld", "slurmd", "munged", "sbatch") if not shutil.which(t)]
    if missing or os.geteuid() != 0:
        reason = f"single-node SLURM needs root and {missing or 'nothing missing'}"
        if REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    subprocess.run(["bash", str(CLUSTER), "up", str(state)], check=True, timeout=120)
    yield state
    subprocess.run(["bash", str(CLUSTER), "down", str(state)], check=False, timeout=60)


def slurm_jobs() -> dict[str, str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%k|%T"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split("|")[0]: line for line in out.splitlines()}


#: each dataset's simulated subject and its preprocessing; `all` would add the two long
#: simulate_prepared_truth jobs, which show nothing more about the cluster
TARGETS = ("results/prepared/tiny_meg/sub-01.zarr", "results/prepared/tiny_eeg/sub-01.zarr")
#: made locally first: each level of the DAG on the cluster waits for the executor's status
#: checks (their interval grows by 10 s while no job has finished), two levels fewer here
LOCAL_FIRST = (
    "resources/raw/tiny_meg/ground_truth/latents.npz",
    "resources/raw/tiny_eeg/ground_truth/latents.npz",
)


@pytest.mark.slurm
@pytest.mark.workflow
@pytest.mark.long
def test_tiny_config_runs_through_sbatch(slurm_cluster, tmp_path):
    meg, eeg = copy.deepcopy(TINY_MEG), copy.deepcopy(TINY_EEG)
    # 400 Hz: the MEG jobs cost a third of THINGS-MEG's 1,200 Hz (decimated to 200 Hz either way)
    meg["simulation"].update(n_test_images=6, n_train_concepts=4, sfreq=400.0)
    eeg["simulation"].update(n_test_images=6)
    workdir = make_workdir(tmp_path, {"datasets": {"tiny_meg": meg, "tiny_eeg": eeg}})
    os.symlink("profiles/slurm", workdir / "slurm")
    run_snakemake(workdir, "--cores", "2", *LOCAL_FIRST)
    before = set(slurm_jobs())
    proc = run_snakemake(
        workdir,
        "--profile",
        "slurm",
        "--slurm-init-seconds-before-status-checks",
        "2",
        *TARGETS,
        slurm=True,
    )
    out = proc.stdout + proc.stderr
    submitted = out.count("has been submitted with SLURM jobid")
    new = {k: v for k, v in slurm_jobs().items() if k not in before}
    assert submitted >= 4 and len(new) == submitted
    assert not any("rule_simulate_latents" in v for v in new.values())  # made locally
    assert all(v.endswith("|COMPLETED") for v in new.values()), new
    assert any("rule_simulate_meg_subject" in v for v in new.values())
    assert any("rule_preprocess_eeg_subject" in v for v in new.values())
    assert (workdir / "resources/raw/tiny_eeg/ground_truth/sub-01_truth.npz").is_file()
    assert all((workdir / target).is_dir() for target in TARGETS)
    again = run_snakemake(workdir, "--profile", "slurm", *TARGETS, slurm=True)
    assert "Nothing to be done" in again.stdout + again.stderr
