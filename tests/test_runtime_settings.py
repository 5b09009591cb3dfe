"""Runtime settings are no rule params: after a complete tiny run, changing threads, batch size,
device, Dask scheduler and memory schedules nothing, and a forced rerun of the affected jobs uses
the new values and records them (job log; feature shards also keep them in their attributes).

The module works on one private copy of the session's tiny chain (`tiny_built`): every setting is
changed at once, one dry run shows that none of them schedules a job (a change that did would be
named there), and one Snakemake run forces the prepared store, a feature shard and a model; each
test then checks its own setting. One change per copy would cost five copies, six dry runs and
seven forced runs.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

from bergforge.logs import RUNTIME_PREFIX
from conftest import run_snakemake

pytestmark = pytest.mark.workflow

TARGETS = ("all", "release")
SHARD = "results/features/tiny/alexnet_untrained/shard-1-of-2.zarr"
SHARD_LOG = "logs/features/tiny/alexnet_untrained/shard-1-of-2.log"
MODEL = "results/models/tiny/alexnet_untrained/sub-01/split-all/model.json"
COEF = "results/models/tiny/alexnet_untrained/sub-01/split-all/regression.npz"
MODEL_LOG = "logs/models/tiny/alexnet_untrained/sub-01_split-all.log"
PREPARED = "results/prepared/tiny/sub-01.zarr"
PREPARED_LOG = "logs/preprocess/tiny/sub-01.log"


def runtime_line(work: Path, log: str) -> dict[str, str]:
    """The ``key=value`` pairs of the job log's runtime-settings line."""
    lines = [x for x in (work / log).read_text().splitlines() if RUNTIME_PREFIX in x]
    assert len(lines) == 1, f"{log}: expected one {RUNTIME_PREFIX!r} line, found {lines}"
    pairs = lines[0].split(RUNTIME_PREFIX, 1)[1].strip().split(", ")
    return dict(pair.split("=", 1) for pair in pairs)


def shard_runtime(work: Path) -> dict:
    return dict(zarr.open_group(str(work / SHARD), mode="r").attrs)["runtime"]


def shard_values(work: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(work / SHARD), mode="r")
    return {layer: group[layer][:] for layer in group.attrs["layers"]}


def changed_config(work: Path, dask_address: str) -> None:
    """Change every runtime setting of the workdir's config (the copy is the module's own)."""
    path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["features"].update(threads=1, batch_size=4, device="cpu", mem_mb=5000)
    cfg["preprocess"] = {"mem_mb": 3000}
    cfg["models"]["linear"]["dask_scheduler"] = dask_address
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def dask_tasks_executed(address: str) -> int:
    from distributed import Client

    with Client(address) as client:
        return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


@dataclass
class Rerun:
    """The copy after the forced rerun, what it held before, and the dry run's output."""

    work: Path
    address: str
    dry_run: str
    before_logs: dict[str, dict[str, str]]
    before_values: dict[str, np.ndarray]
    before_shard_runtime: dict
    before_coef: np.ndarray
    before_dask_tasks: int


@pytest.fixture(scope="module")
def rerun(tiny_built, tmp_path_factory, dask_cluster) -> Rerun:
    work = tmp_path_factory.mktemp("runtime") / "work"
    shutil.copytree(tiny_built, work, symlinks=True)  # mtimes and .snakemake metadata kept
    address, _ = dask_cluster
    before = {
        "before_logs": {
            log: runtime_line(work, log) for log in (SHARD_LOG, MODEL_LOG, PREPARED_LOG)
        },
        "before_values": shard_values(work),
        "before_shard_runtime": shard_runtime(work),
        "before_coef": np.load(work / COEF)["coef_"],
        "before_dask_tasks": dask_tasks_executed(address),
    }
    changed_config(work, address)
    threads = ("--set-threads", "fit_linear=1")
    dry = run_snakemake(work, "-n", *TARGETS, *threads)
    run_snakemake(work, "--cores", "2", "--force", PREPARED, SHARD, MODEL, *threads)
    return Rerun(work, address, dry.stdout + dry.stderr, **before)


def test_no_runtime_setting_schedules_a_rerun(rerun):
    jobs = re.findall(r"^(?:local)?rule (\w+):", rerun.dry_run, re.M)
    assert "Nothing to be done" in rerun.dry_run and not jobs, (
        f"scheduled {jobs}:\n{rerun.dry_run[-3000:]}"
    )


def test_threads(rerun):
    assert rerun.before_logs[SHARD_LOG]["threads"] == "2"  # features.threads default
    assert runtime_line(rerun.work, SHARD_LOG)["threads"] == "1"
    assert shard_runtime(rerun.work)["threads"] == 1
    assert runtime_line(rerun.work, MODEL_LOG)["threads"] == "1"  # --set-threads fit_linear=1


def test_batch_size(rerun):
    assert rerun.before_shard_runtime["batch_size"] == 8  # TINY_CHAIN
    assert runtime_line(rerun.work, SHARD_LOG)["batch_size"] == "4"
    assert shard_runtime(rerun.work)["batch_size"] == 4
    after = shard_values(rerun.work)
    for layer, values in rerun.before_values.items():  # the same features, up to float rounding
        np.testing.assert_allclose(after[layer], values, rtol=1e-5, atol=1e-6)


def test_device(rerun):
    # the default `auto` resolved to the CPU (no GPU here); now the CPU was asked for explicitly
    assert rerun.before_logs[SHARD_LOG]["device_setting"] == "auto"
    used = runtime_line(rerun.work, SHARD_LOG)
    assert (used["device"], used["device_setting"]) == ("cpu", "cpu")
    assert shard_runtime(rerun.work)["device_setting"] == "cpu"


def test_dask_scheduler(rerun):
    assert rerun.before_logs[MODEL_LOG]["dask_scheduler"] == "threads"
    assert runtime_line(rerun.work, MODEL_LOG)["dask_scheduler"] == rerun.address
    assert f"on dask.distributed scheduler {rerun.address}" in (rerun.work / MODEL_LOG).read_text()
    executed = dask_tasks_executed(rerun.address)
    assert executed > rerun.before_dask_tasks, "the target blocks ran on the cluster's workers"
    coef = np.load(rerun.work / COEF)["coef_"]
    np.testing.assert_allclose(coef, rerun.before_coef, rtol=1e-5, atol=1e-7)


def test_memory(rerun):
    # without preprocess.mem_mb the memory follows from the raw partitions' size
    from types import SimpleNamespace

    from bergforge.workflow.resources import sized_mem_mb

    raw = SimpleNamespace(raw=str(rerun.work / "resources/raw/tiny/raw_data/sub-01"))
    sized = sized_mem_mb({}, "preprocess_eeg_subject")(SimpleNamespace(dataset="tiny"), raw)
    assert rerun.before_logs[PREPARED_LOG]["mem_mb"] == str(sized)
    assert runtime_line(rerun.work, PREPARED_LOG)["mem_mb"] == "3000"
    assert runtime_line(rerun.work, SHARD_LOG)["mem_mb"] == "5000"
    assert shard_runtime(rerun.work)["mem_mb"] == 5000
