"""Runtime settings are no rule params: after a complete tiny run, changing only threads, batch
size, device, Dask scheduler or memory schedules nothing, and a forced rerun of one affected job
uses the new value and records it (job log; feature shards also keep it in their attributes).

Each test works on its own copy of the session's tiny chain (`tiny_built`), so what its forced
rerun changes never reaches another test.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
MODEL_LOG = "logs/models/tiny/alexnet_untrained/sub-01_split-all.log"
PREPARED = "results/prepared/tiny/sub-01.zarr"
PREPARED_LOG = "logs/preprocess/tiny/sub-01.log"


@pytest.fixture
def work(tiny_built, tmp_path) -> Path:
    """A private copy of the built tiny chain (mtimes and .snakemake metadata kept)."""
    copy_dir = tmp_path / "work"
    shutil.copytree(tiny_built, copy_dir, symlinks=True)
    return copy_dir


def assert_nothing_scheduled(work: Path, *extra: str) -> None:
    proc = run_snakemake(work, "-n", *TARGETS, *extra)
    text = proc.stdout + proc.stderr
    jobs = re.findall(r"^(?:local)?rule (\w+):", text, re.M)
    assert "Nothing to be done" in text and not jobs, f"scheduled {jobs}:\n{text[-3000:]}"


@contextmanager
def changed_config(work: Path, edit: Callable[[dict], None]) -> Iterator[dict]:
    """The workdir's config changed by ``edit`` (the copy is the test's own: nothing to restore)."""
    path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    edit(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    yield copy.deepcopy(cfg)


def force(work: Path, target: str, *extra: str) -> None:
    """Rerun the one job that makes ``target``."""
    run_snakemake(work, "--cores", "2", "--force", target, *extra)


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


def test_threads(work):
    assert runtime_line(work, SHARD_LOG)["threads"] == "2"  # features.threads default

    def edit(cfg):
        cfg["features"]["threads"] = 1

    with changed_config(work, edit):
        assert_nothing_scheduled(work)
        assert_nothing_scheduled(work, "--set-threads", "fit_linear=1")
        force(work, SHARD)
        force(work, MODEL, "--set-threads", "fit_linear=1")
    assert runtime_line(work, SHARD_LOG)["threads"] == "1"
    assert shard_runtime(work)["threads"] == 1
    assert runtime_line(work, MODEL_LOG)["threads"] == "1"


def test_batch_size(work):
    before = shard_values(work)
    assert shard_runtime(work)["batch_size"] == 8  # TINY_CHAIN

    def edit(cfg):
        cfg["features"]["batch_size"] = 4

    with changed_config(work, edit):
        assert_nothing_scheduled(work)
        force(work, SHARD)
    assert runtime_line(work, SHARD_LOG)["batch_size"] == "4"
    assert shard_runtime(work)["batch_size"] == 4
    after = shard_values(work)
    for layer, values in before.items():  # the same features, up to float rounding
        np.testing.assert_allclose(after[layer], values, rtol=1e-5, atol=1e-6)


def test_device(work):
    # the default `auto` resolved to the CPU (no GPU here); now ask for the CPU explicitly
    assert runtime_line(work, SHARD_LOG)["device_setting"] == "auto"

    def edit(cfg):
        cfg["features"]["device"] = "cpu"

    with changed_config(work, edit):
        assert_nothing_scheduled(work)
        force(work, SHARD)
    used = runtime_line(work, SHARD_LOG)
    assert (used["device"], used["device_setting"]) == ("cpu", "cpu")
    assert shard_runtime(work)["device_setting"] == "cpu"


def test_dask_scheduler(work, dask_cluster):
    from distributed import Client

    address, _ = dask_cluster
    assert runtime_line(work, MODEL_LOG)["dask_scheduler"] == "threads"
    coef_before = np.load(work / MODEL.replace("model.json", "regression.npz"))["coef_"]
    with Client(address) as client:
        executed_before = sum(
            client.run(lambda dask_worker: dask_worker.state.executed_count).values()
        )

    def edit(cfg):
        cfg["models"]["linear"]["dask_scheduler"] = address

    with changed_config(work, edit):
        assert_nothing_scheduled(work)
        force(work, MODEL)
    assert runtime_line(work, MODEL_LOG)["dask_scheduler"] == address
    assert f"on dask.distributed scheduler {address}" in (work / MODEL_LOG).read_text()
    with Client(address) as client:
        executed = sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())
    assert executed > executed_before, "the target blocks ran on the cluster's workers"
    coef = np.load(work / MODEL.replace("model.json", "regression.npz"))["coef_"]
    np.testing.assert_allclose(coef, coef_before, rtol=1e-5, atol=1e-7)


def test_memory(work):
    # without preprocess.mem_mb the memory follows from the raw partitions' size
    from types import SimpleNamespace

    from bergforge.workflow.resources import sized_mem_mb

    raw = SimpleNamespace(raw=str(work / "resources/raw/tiny/raw_data/sub-01"))
    sized = sized_mem_mb({}, "preprocess_eeg_subject")(SimpleNamespace(dataset="tiny"), raw)
    assert runtime_line(work, PREPARED_LOG)["mem_mb"] == str(sized)

    def edit(cfg):
        cfg["preprocess"] = {"mem_mb": 3000}
        cfg["features"]["mem_mb"] = 5000

    with changed_config(work, edit):
        assert_nothing_scheduled(work)
        force(work, PREPARED)
        force(work, SHARD)
    assert runtime_line(work, PREPARED_LOG)["mem_mb"] == "3000"
    assert runtime_line(work, SHARD_LOG)["mem_mb"] == "5000"
    assert shard_runtime(work)["mem_mb"] == 5000
