"""What a fit job cost: ``fit_job.json`` in the model folder, written by the generic fit job.

The fit job (:func:`bergforge.workflow.jobs.fit_job`) measures the kind's ``fit`` call and writes
this record after the kind's files and before the folder is sealed (so ``checksums.json`` lists
it): the fit's wall-clock and CPU seconds, the peak resident memory of the job's process (and of
its largest child process, e.g. a local Dask worker) and, where the fit used CUDA, the peak GPU
memory torch allocated. Unlike the weights these numbers differ from run to run; the leaderboard
(:mod:`bergforge.report.leaderboard`) reads them. Folders fitted before the record existed have
none: :func:`read_fit_record` gives None.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bergforge.atomic import save_json
from bergforge.errors import DataError
from bergforge.models.records import read_record

FIT_RECORD = "fit_job.json"
#: ``ru_maxrss`` unit: KiB on Linux, bytes on macOS
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024
MB = 1e6


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size (MB) of this process (or its largest waited-for child) so far."""
    return resource.getrusage(who).ru_maxrss * _RSS_UNIT / MB


def _gpu_peak_mb() -> float | None:
    torch = sys.modules.get("torch")  # only when the fit imported torch
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return float(torch.cuda.max_memory_allocated()) / MB


@contextmanager
def measured(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Measure the block: on exit ``record`` gets ``wall_seconds``, ``cpu_seconds`` (this
    process), ``peak_rss_mb``, ``peak_rss_children_mb`` and ``gpu_peak_mb`` (None without CUDA)."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield record
    record |= {
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_children_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
        "gpu_peak_mb": _gpu_peak_mb(),
    }


def write_fit_record(folder: Path | str, record: dict[str, Any]) -> Path:
    """Write ``fit_job.json`` into ``folder`` (atomically; sorted keys)."""
    path = Path(folder) / FIT_RECORD
    save_json(path, record)
    return path


def read_fit_record(folder: Path | str) -> dict[str, Any] | None:
    """The folder's ``fit_job.json``, or None when its fit predates the record."""
    path = Path(folder) / FIT_RECORD
    if not path.is_file():
        return None
    found = read_record(path)
    if not isinstance(found, dict) or "wall_seconds" not in found or "peak_rss_mb" not in found:
        raise DataError(f"{path}: expected a JSON object with wall_seconds and peak_rss_mb")
    return found
