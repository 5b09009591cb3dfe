"""A failing job's error is in its log file (the file Snakemake points to) and on stderr, as one
line naming the job and what failed, then the traceback; a write that runs out of room (disk full,
``ulimit -f``, quota) names the file or store it was writing, and leaves nothing complete-looking."""

from __future__ import annotations

import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bergforge.errors import WriteError
from bergforge.logs import describe_failure, job_label
from conftest import SNAKEMAKE

#: a file-size limit far below a feature chunk (MBs) and far above Snakemake's own files (KBs)
FILE_LIMIT = 1 << 20
TOO_LARGE = "[Errno 27] File too large"


def limit_file_size(limit: int = FILE_LIMIT):
    """A preexec_fn: the child (and its children) may write no file beyond ``limit`` bytes."""

    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return preexec


def python(code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def test_the_summary_of_a_full_disk_names_the_file_and_the_cause():
    full = OSError(errno.ENOSPC, "No space left on device", "results/a.npz")
    assert describe_failure(full, ["results/out.json"]) == (
        "writing results/a.npz: [Errno 28] No space left on device (disk full?)"
    )
    nameless = OSError(errno.EFBIG, "File too large")  # os.write on a descriptor names no file
    assert describe_failure(nameless, ["results/x.zarr"]).startswith(
        f"writing results/x.zarr: {TOO_LARGE} (file size limit (ulimit -f) or disk full?)"
    )
    wrapped = WriteError("results/x.zarr", OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert describe_failure(wrapped, []) == str(wrapped)
    assert isinstance(wrapped, OSError) and wrapped.errno == errno.EDQUOT


def test_any_other_error_is_one_line_with_its_type():
    text = describe_failure(ValueError("bad value\n  spread over\nlines"), [])
    assert text == "ValueError: bad value spread over lines"
    assert describe_failure(KeyboardInterrupt(), []) == "KeyboardInterrupt"
    assert len(describe_failure(RuntimeError("x" * 5000), [])) < 600
    assert job_label("fit_linear", {"dataset": "d", "subject": "01"}) == (
        "rule fit_linear (dataset=d, subject=01)"
    )


FULL_DISK_WRITES = """
import json, sys
from pathlib import Path
import numpy as np, zarr
from bergforge.atomic import atomic_folder, save_json, save_npz
from bergforge.errors import WriteError
from bergforge.preprocess.store import atomic_store

out, results = Path(sys.argv[1]), {}
big = np.random.default_rng(0).random((512, 1024))  # 4 MB, over the limit

def attempt(name, write):
    try:
        write()
        results[name] = "written"
    except WriteError as err:
        results[name] = str(err)

attempt("npz", lambda: save_npz(out / "regression.npz", weights=big))
attempt("json", lambda: save_json(out / "big.json", {"x": big.ravel().tolist()}))

def zarr_store():
    with atomic_folder(out / "shard.zarr") as building:
        zarr.open_group(str(building), mode="w").create_array(
            "f", data=big.astype("f8"), chunks=big.shape, compressors=None
        )

attempt("zarr", zarr_store)

def prepared_store():
    with atomic_store(out / "sub-01.zarr") as (group, staging):
        np.save(staging / "trials.npy", big)

attempt("staging", prepared_store)
print(json.dumps(results))
"""


def test_writes_past_a_file_size_limit_name_their_target_and_leave_nothing(tmp_path):
    proc = python(FULL_DISK_WRITES, str(tmp_path), preexec_fn=limit_file_size())
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for name, target in [("npz", "regression.npz"), ("json", "big.json"), ("zarr", "shard.zarr")]:
        assert results[name] == (
            f"writing {tmp_path / target}: {TOO_LARGE} (file size limit (ulimit -f) or disk full?)"
        ), name
    # np.save to a file reports a short write, with no errno
    assert re.fullmatch(
        rf"writing {re.escape(str(tmp_path / 'sub-01.zarr'))}: short write, \d+ requested and "
        r"\d+ written \(disk full or file size limit\?\)",
        results["staging"],
    ), results["staging"]
    assert list(tmp_path.iterdir()) == [], "no output and no temporary may be left"


FAKE_JOB = """
import sys, time
from pathlib import Path
from types import SimpleNamespace
from bergforge.atomic import atomic_folder
from bergforge.logs import start_job

log, out, ready, mode = sys.argv[1:5]
start_job(SimpleNamespace(
    log=[log], rule="toy_rule", wildcards={"subject": "01"}, output=[out]
))
with atomic_folder(Path(out)) as building:
    (building / "part").write_text("half")
    if mode == "raise":
        raise ValueError("the toy job found a bad value in " + out)
    Path(ready).touch()
    time.sleep(120)
"""


def test_an_uncaught_error_is_logged_once_with_its_traceback(tmp_path):
    log, out = tmp_path / "logs" / "toy.log", tmp_path / "toy.zarr"
    script = tmp_path / "toy_job.py"  # a file, as Snakemake runs a script: the traceback quotes it
    script.write_text(FAKE_JOB)
    proc = subprocess.run(
        [sys.executable, str(script), str(log), str(out), str(tmp_path / "ready"), "raise"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    line = (
        f"ERROR bergforge.job: rule toy_rule (subject=01) failed: ValueError: the toy job found "
        f"a bad value in {out}"
    )
    text = log.read_text()
    assert line in text.splitlines()[0]
    assert "Traceback (most recent call last):" in text and 'raise ValueError("the toy' in text
    assert proc.stderr.count(line) == 1 and proc.stderr.count("Traceback") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "toy_job.py"]


def test_sigterm_stops_a_job_through_its_clean_up_and_says_so(tmp_path):
    log, out, ready = tmp_path / "toy.log", tmp_path / "toy.zarr", tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_JOB, str(log), str(out), str(ready), "wait"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "no start"
        assert (tmp_path / ".toy.zarr.building").is_dir()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    line = "ERROR bergforge.job: rule toy_rule (subject=01) stopped: received SIGTERM"
    assert line in log.read_text() and line in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ready", "toy.log"]


# -- a real Snakemake job under a file-size limit ---------------------------------------------------

SHARD = "results/features/tiny/alexnet_untrained/shard-1-of-2.zarr"
SHARD_LOG = "logs/features/tiny/alexnet_untrained/shard-1-of-2.log"


@pytest.mark.workflow
def test_a_job_past_a_file_size_limit_fails_naming_the_store_in_its_log(tiny_built, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_built, work, symlinks=True)
    paths = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "2", "--force", SHARD],
        cwd=work,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p)),
        preexec_fn=limit_file_size(),
        timeout=900,
    )
    assert proc.returncode != 0
    line = (
        "ERROR bergforge.job: rule extract_feature_shard (dataset=tiny, backbone=alexnet_untrained"
        f", shard=1, n_shards=2) failed: writing {SHARD}: {TOO_LARGE} (file size limit (ulimit -f)"
        " or disk full?)"
    )
    log_lines = (work / SHARD_LOG).read_text().splitlines()
    assert any(x.endswith(line) for x in log_lines), "\n".join(log_lines[-20:])
    assert line in proc.stderr, proc.stderr[-3000:]
    folder = (work / SHARD).parent
    assert not (work / SHARD).exists(), "no output may be left"
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".shard-1-of-2")]
    assert leftovers == [], "temporaries must be removed"
    assert (folder / "shard-2-of-2.zarr").is_dir(), "the other shard is untouched"


FORKED_WORKER = """
import os, signal, sys, time
from types import SimpleNamespace
from bergforge.logs import start_job

start_job(SimpleNamespace(log=[sys.argv[1]], rule="toy_rule", wildcards={}, output=[sys.argv[2]]))
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:  # a worker process the job forked (as a torch DataLoader does)
    os.write(ready_w, b"1")
    time.sleep(60)
    os._exit(0)
os.read(ready_r, 1)  # a signal right at the fork would be dropped by CPython's fork handling
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
print(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM)
"""


def test_a_forked_worker_still_dies_of_sigterm_without_logging_a_stop(tmp_path):
    log = tmp_path / "toy.log"
    proc = python(FORKED_WORKER, str(log), str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"
    assert "stopped" not in log.read_text() + proc.stderr


def test_every_script_entry_point_starts_as_a_job():
    """A script without start_job would lose its error from the log and keep stale temporaries."""
    scripts = sorted((Path(__file__).parents[1] / "workflow" / "scripts").glob("*.py"))
    assert len(scripts) > 20
    missing = [p.name for p in scripts if p.read_text().count("start_job(snakemake)") != 1]
    assert missing == []
