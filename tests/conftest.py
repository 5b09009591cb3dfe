"""Shared fixtures: tiny simulated studies and a runner for real Snakemake on tiny configs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bergforge.simulate.study import simulate_images, simulate_latents, simulate_subject

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
DASK = str(Path(sys.executable).parent / "dask")

TINY_MEG = {
    "format": "things_meg1",
    "source": "simulated",
    "subjects": [1],
    "simulation": {
        "seed": 7,
        "n_sessions": 3,
        "runs_per_session": 1,
        "n_train_concepts": 10,
        "images_per_concept": 3,
        "n_test_images": 30,
        "catch_per_run": 2,
        "image_size": 64,
        "n_latents": 4,
    },
}
TINY_EEG = {
    "format": "things_eeg2",
    "source": "simulated",
    "subjects": [1],
    "simulation": {
        "seed": 8,
        "n_sessions": 4,
        "n_train_concepts": 6,
        "images_per_concept": 2,
        "n_test_images": 30,
        "test_reps_per_session": 3,
        "targets_per_session": 4,
        "image_size": 64,
        "n_latents": 4,
    },
}


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--exports-of",
        default=None,
        metavar="WORKDIR",
        help="check the BERG exports of this finished workdir (tests/test_demo_exports.py; "
        "`make demo` passes the demo's) instead of the session's tiny chain",
    )


def _uses_tiny_build(items: list) -> bool:
    return any("tiny_built" in getattr(item, "fixturenames", ()) for item in items)


def _module_rank(items: list, first_shared: str | None) -> int:
    """Where a module's tests go in the run (see :func:`pytest_collection_modifyitems`)."""
    if items[0].nodeid.split("::", 1)[0] == first_shared:
        return 0
    marks = {m.name for item in items for m in item.iter_markers()}
    shared = _uses_tiny_build(items)
    if "long" in marks and not shared:
        return 1
    if "workflow" in marks and not shared:
        return 2
    return 3 if shared else 4


def pytest_collection_modifyitems(config, items) -> None:
    """Order the modules so that the xdist workers stay busy (``make test`` runs
    ``--dist loadfile --no-loadscope-reorder``, which keeps this order):

    0. a module that needs the shared tiny build (``tiny_built``), one with a ``long`` test if
       there is one, so that one worker starts building at once and goes on to its long test;
    1. the other modules with a ``long`` test (minutes alone; the SLURM run mostly waits on the
       cluster's status checks), so that none is left running alone at the end;
    2. the other Snakemake (``workflow``) modules, each building its own tiny config;
    3. the remaining modules that need the tiny build, which by then is there to copy (before
       this order, workers sat idle on its file lock for minutes);
    4. the quick modules, which fill the end of the run.

    Within a group modules keep their collection order, and tests their order in the module."""
    modules: dict[str, list] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    shared = [path for path, own in modules.items() if _uses_tiny_build(own)]
    long = [p for p in shared if any(i.get_closest_marker("long") for i in modules[p])]
    first_shared = (long or shared or [None])[0]
    ranked = sorted(modules.values(), key=lambda own: _module_rank(own, first_shared))
    items[:] = [item for own in ranked for item in own]


def simulate_study(cfg: dict, raw_dir: Path) -> Path:
    """Run the simulator for every subject of a dataset entry, as the workflow rules do."""
    fmt, sim = cfg["format"], cfg["simulation"]
    table = raw_dir / "ground_truth" / "images.tsv"
    latents = raw_dir / "ground_truth" / "latents.npz"
    simulate_images(fmt, sim, "tiny", raw_dir, table)
    simulate_latents(fmt, sim, "tiny", raw_dir, table, latents)
    for subject in cfg["subjects"]:
        simulate_subject(fmt, sim, "tiny", raw_dir, table, latents, subject)
    return raw_dir


@pytest.fixture(scope="session")
def tiny_meg(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "tiny_meg", lambda folder: simulate_study(TINY_MEG, folder))


@pytest.fixture(scope="session")
def tiny_eeg(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "tiny_eeg", lambda folder: simulate_study(TINY_EEG, folder))


@pytest.fixture
def one_torch_thread():
    """Tiny convolutions run fastest on one thread (no spin-waiting on a shared 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_workdir(tmp_path: Path, config: dict) -> Path:
    """A fresh copy of the workflow (as a clean clone has it) with ``config`` as its config."""
    for item in ("Snakefile", "workflow", "profiles", "envs"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, tmp_path / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, tmp_path / item)
    (tmp_path / "config").mkdir(exist_ok=True)
    with open(tmp_path / "config" / "config.yaml", "w") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    return tmp_path


def run_snakemake(
    workdir: Path, *args: str, check: bool = True, slurm: bool = False
) -> subprocess.CompletedProcess:
    """Run the real ``snakemake`` CLI in ``workdir`` and return the finished process.

    ``slurm=False`` (every run but the cluster test's) tells SLURM's tools that there is no
    cluster (``SLURM_CONF=/dev/null``): Snakemake's slurm executor plugin, loaded on every start,
    runs ``scontrol show config``, which waits about 10 s on a machine that has SLURM's tools but
    no reachable controller (CI installs them for tests/test_slurm.py) and fails at once this way.
    """
    # tests/ on the path of every job, so that the toy model kind (tests/toy_kind.py) imports
    paths = [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(p for p in paths if p))
    if not slurm:
        env["SLURM_CONF"] = os.devnull
    proc = subprocess.run(
        [SNAKEMAKE, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


#: One tiny configuration built once per session through every stage (`all` and `release`):
#: the workflow tests of the stages, the export, incremental rebuilds and releases share it.
TINY_CHAIN = {
    "datasets": {
        "tiny": {
            "format": "things_eeg2",
            "source": "simulated",
            "subjects": [1],
            "name_in_berg": "tiny_eeg_berg",
            # the toy kind of tests/toy_kind.py rides along: fit, evaluation, own-layout export
            "models": {"linear": {}, "toy": {"backbones": ["alexnet_untrained"], "n_columns": 6}},
            "simulation": {
                "seed": 8,
                "n_sessions": 4,
                "n_train_concepts": 4,
                "images_per_concept": 3,
                "n_test_images": 8,
                "test_reps_per_session": 2,
                "targets_per_session": 2,
                "image_size": 64,
                "n_latents": 4,
            },
        },
        "tiny_meg": {
            "format": "things_meg1",
            "source": "simulated",
            "subjects": [2],
            "simulation": {
                "seed": 7,
                "n_sessions": 2,
                "runs_per_session": 1,
                "n_train_concepts": 10,
                "images_per_concept": 2,
                "n_test_images": 6,
                "catch_per_run": 1,
                "image_size": 64,
                "n_latents": 3,
                "sfreq": 400.0,  # decimation by 2 to 200 Hz; the prepared truth costs less
            },
        },
    },
    "backbones": {"alexnet_untrained": {}},
    "features": {"shard_size": 16, "batch_size": 8},
    "models": {"linear": {"n_components": 4, "pca": {"block_size": 50000}}},
    "release": {"version": "0.0.0-test"},
    "model_kinds": {"toy": "toy_kind"},
}
TINY_RELEASE = "results/release/bergforge-models-0.0.0-test"


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder that ``build`` fills once per test run, shared by every pytest-xdist worker.

    Under xdist the first worker to ask builds it in the run's common temp root (a file lock keeps
    the others waiting) and each worker gets its own copy, mtimes and ``.snakemake`` kept, so a
    test that changes its copy cannot disturb another worker's tests. Without xdist the build
    itself is returned.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent
    master, done = root / f"shared-{name}", root / f"shared-{name}.done"
    with FileLock(str(root / f"shared-{name}.lock")):
        if not done.exists():
            shutil.rmtree(master, ignore_errors=True)
            master.mkdir()
            build(master)
            done.touch()
    copy_dir = tmp_path_factory.mktemp(name)
    shutil.copytree(master, copy_dir, symlinks=True, dirs_exist_ok=True)
    return copy_dir


def _build_tiny_chain(folder: Path) -> None:
    import copy

    workdir = make_workdir(folder, copy.deepcopy(TINY_CHAIN))
    run_snakemake(workdir, "--cores", "2", "all", "release")


@pytest.fixture(scope="session")
def tiny_built(tmp_path_factory) -> Path:
    """A workdir where TINY_CHAIN was built through `all` and `release` by real Snakemake."""
    return built_once(tmp_path_factory, "tiny_chain", _build_tiny_chain)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A dask.distributed scheduler and two 1-thread workers as separate processes: (address, procs)."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(2):
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "worker",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        )
    try:
        from distributed import Client

        address = json.loads(scheduler_file.read_text())["address"]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


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
