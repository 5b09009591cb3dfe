"""A job removes the temporaries an earlier, killed attempt at its own targets left, and never
another target's: the writers name them after the target (``.<name>.partial``, ``.building``,
``.old``, ``.staging``), and every job removes those of its outputs when it starts (logged)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import zarr

from bergforge.atomic import (
    TEMPORARY_KINDS,
    atomic_file,
    atomic_folder,
    remove_stale_temporaries,
    scratch_folder,
    temporary_path,
)
from bergforge.preprocess.store import atomic_store
from conftest import SNAKEMAKE, run_snakemake

REMOVED = "removed stale temporary"


def plant(folder: Path, name: str) -> dict[str, Path]:
    """Leftovers of each writer for target ``name``, named as the writers name them."""
    left = {}
    for kind in TEMPORARY_KINDS:
        path = folder / f".{name}.{kind}"
        if kind == "partial":
            path.write_bytes(b"half a file")
        else:
            (path / "c" / "0").mkdir(parents=True)
            (path / "c" / "0" / "0").write_bytes(b"half a chunk")
        left[kind] = path
    return left


def test_temporaries_are_named_after_their_target_only(tmp_path):
    target = tmp_path / "sub-01.zarr"
    names = [temporary_path(target, kind).name for kind in TEMPORARY_KINDS]
    assert names == [
        ".sub-01.zarr.partial",
        ".sub-01.zarr.building",
        ".sub-01.zarr.old",
        ".sub-01.zarr.staging",
    ]
    with pytest.raises(ValueError, match="temporary kind 'tmp'"):
        temporary_path(target, "tmp")


def test_only_the_targets_own_leftovers_are_removed_and_each_is_logged(tmp_path, caplog):
    own = plant(tmp_path, "sub-01.zarr")
    # a job beside it in the same folder, and names that merely start alike
    others = [
        *plant(tmp_path, "sub-02.zarr").values(),
        *plant(tmp_path, "sub-01.zarr.bak").values(),
        *plant(tmp_path, "sub-01").values(),
    ]
    (tmp_path / "sub-01.zarr.partial").write_text("a resumable download's file")  # not hidden
    with caplog.at_level(logging.INFO, logger="bergforge"):
        removed = remove_stale_temporaries(tmp_path / "sub-01.zarr")
    assert sorted(removed) == sorted(own.values())
    assert not any(p.exists() for p in own.values())
    assert all(p.exists() for p in others)
    assert (tmp_path / "sub-01.zarr.partial").exists()
    lines = [r.getMessage() for r in caplog.records if REMOVED in r.getMessage()]
    assert len(lines) == 4 and all(str(tmp_path / "sub-01.zarr") in x for x in lines)


def test_a_symlinked_leftover_is_unlinked_not_followed(tmp_path):
    keep = tmp_path / "elsewhere"
    keep.mkdir()
    (keep / "data").write_text("not ours")
    (tmp_path / ".out.building").symlink_to(keep)
    remove_stale_temporaries(tmp_path / "out")
    assert not (tmp_path / ".out.building").is_symlink()
    assert (keep / "data").read_text() == "not ours"


def test_each_writer_removes_its_targets_stale_temporary_on_entry(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="bergforge"):
        plant(tmp_path, "a.npz")
        with atomic_file(tmp_path / "a.npz") as tmp:
            assert not tmp.exists(), "the stale partial file is gone before writing starts"
            tmp.write_bytes(b"new")
        assert (tmp_path / "a.npz").read_bytes() == b"new"

        plant(tmp_path, "b.zarr")
        with atomic_folder(tmp_path / "b.zarr") as building:
            assert list(building.iterdir()) == [], "a fresh folder, not the killed attempt's"
            (building / "x").write_text("1")

        plant(tmp_path, "c.zarr")
        with scratch_folder(tmp_path / "c.zarr") as scratch:
            assert list(scratch.iterdir()) == []
        assert not scratch.exists()
    removed = {r.args[0].name for r in caplog.records if REMOVED in r.getMessage()}
    assert removed == {
        ".a.npz.partial",
        ".b.zarr.building",
        ".b.zarr.old",
        ".c.zarr.staging",
    }
    # what the writers do not own stays for the job's own start-up clean-up
    assert (tmp_path / ".a.npz.building").exists() and (tmp_path / ".b.zarr.staging").exists()


KILLED_WRITER = """
import sys, time
from pathlib import Path
from bergforge.preprocess.store import atomic_store
with atomic_store(Path(sys.argv[1])) as (group, staging):
    (staging / "trials.npy").write_bytes(b"0" * 1000)
    group.create_array("data", shape=(4,), dtype="f4")[:] = 1.0
    Path(sys.argv[2]).touch()
    time.sleep(60)
"""


def test_a_store_writer_killed_mid_write_leaves_only_temporaries_the_next_attempt_removes(
    tmp_path,
):
    target = tmp_path / "sub-01.zarr"
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target), str(ready)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the writer never got to its write"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "ready")
    assert left == [".sub-01.zarr.building", ".sub-01.zarr.staging"], "nothing complete-looking"
    with atomic_store(target) as (group, staging):
        assert list(staging.iterdir()) == []
        group.create_array("data", shape=(4,), dtype="f4")[:] = 2.0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "ready") == ["sub-01.zarr"]
    np.testing.assert_array_equal(zarr.open_group(str(target), mode="r")["data"][:], 2.0)


# -- a real job killed by SIGKILL mid-write, then rerun by Snakemake -------------------------------

SHARD = "results/features/tiny/alexnet_untrained/shard-1-of-2.zarr"
SHARD_LOG = "logs/features/tiny/alexnet_untrained/shard-1-of-2.log"


def job_processes(snakemake: psutil.Process, script: str) -> list[psutil.Process]:
    found = []
    for child in snakemake.children(recursive=True):
        try:
            if any(script in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def layers(store: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(store), mode="r")
    return {layer: group[layer][:] for layer in group.attrs["layers"]}


@pytest.mark.workflow
def test_a_killed_feature_job_leaves_temporaries_its_rerun_removes(tiny_built, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_built, work, symlinks=True)
    before = layers(work / SHARD)
    building = work / SHARD.replace("shard-1-of-2.zarr", ".shard-1-of-2.zarr.building")
    # the other shard's job could be running beside this one: its temporary must survive
    neighbour = work / SHARD.replace("shard-1-of-2.zarr", ".shard-2-of-2.zarr.building")
    neighbour.mkdir()
    (neighbour / "zarr.json").write_text("{}")

    paths = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    proc = subprocess.Popen(
        [SNAKEMAKE, "--cores", "2", "--force", SHARD],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        snakemake, killed = psutil.Process(proc.pid), []
        deadline = time.monotonic() + 600
        while not killed and proc.poll() is None and time.monotonic() < deadline:
            if building.is_dir():
                killed = job_processes(snakemake, "extract_features")
                for job in killed:
                    job.send_signal(signal.SIGKILL)
            time.sleep(0.01)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed, f"the job was not caught mid-write:\n{out[-3000:]}"
    assert proc.returncode != 0
    assert building.is_dir() and not (work / SHARD).exists(), "only a hidden temporary is left"

    run_snakemake(work, "--cores", "2", SHARD)
    assert not building.exists()
    assert neighbour.is_dir(), "another target's temporary was touched"
    log_text = (work / SHARD_LOG).read_text()
    assert f"{REMOVED} {building.relative_to(work)}" in log_text
    after = layers(work / SHARD)
    assert after.keys() == before.keys()
    for name, values in before.items():
        np.testing.assert_array_equal(after[name], values, err_msg=name)
