"""Peak resident memory of the calling process, for benchmarks that measure a child process."""

from __future__ import annotations

from pathlib import Path


def peak_gb() -> float:
    """This process's own peak resident memory (VmHWM), in GiB.

    Not ``ru_maxrss``: after ``exec`` that keeps the parent's peak (Python spawns children with
    vfork), so a child started by a large parent would report the parent's size.
    """
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 2**20
