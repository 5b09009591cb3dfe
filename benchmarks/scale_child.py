"""The two child processes of one scale-harness point: write the inputs, then run and measure the job.

``run_point`` measures only the job call: its wall time, the process's VmHWM (peak resident
memory, file-backed pages of memory maps included), the largest RssAnon seen by a sampling
thread (anonymous memory: what an out-of-memory killer cannot reclaim) and, where the job used
CUDA, PyTorch's peak GPU allocation.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

JOB_FILE = "job.json"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class AnonSampler:
    """Largest RssAnon (MB) of this process, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak_kb = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb("RssAnon"))
            self._stop.wait(self.interval)

    def __enter__(self) -> AnonSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb("RssAnon"))


def prepare_point(case, fraction: float, point: Path) -> dict:
    """Write the case's inputs into ``point``; returns the workflow's size of them."""
    began = time.perf_counter()
    cache = point.parent / "cache" / case.name
    cache.mkdir(parents=True, exist_ok=True)
    job = case.prepare(point, fraction, cache)
    (point / JOB_FILE).write_text(json.dumps(job))
    size = asdict(case.size(job))
    return {
        "units": size["units"],
        "work": size["work"],
        "fixed_mb": size["fixed_mb"],
        "prepare_seconds": round(time.perf_counter() - began, 1),
        **job.get("report", {}),  # numbers the inputs give (e.g. a GPU estimate)
    }


def run_point(case, fraction: float, point: Path) -> dict:
    """Run the case's job on the inputs in ``point``; returns peak memory and time."""
    job = json.loads((point / JOB_FILE).read_text())
    with AnonSampler() as anon:
        began = time.perf_counter()
        extra = case.run(job) or {}
        seconds = time.perf_counter() - began
    return {
        "peak_mb": _status_kb("VmHWM") / 1024,
        "anon_peak_mb": anon.peak_kb / 1024,
        "seconds": seconds,
        **_gpu_peak(),
        **extra,
    }


def _gpu_peak() -> dict:
    """``gpu_peak_mb`` (PyTorch's peak allocation, MiB) where the job initialised CUDA."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return {}
    return {"gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20}
