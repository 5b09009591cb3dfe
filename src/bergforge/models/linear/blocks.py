"""Targets cut into large blocks, each one Dask task that shares one set of statistics.

Blocks run on the Snakemake job's threads (Dask's threaded scheduler) or, when config gives a
``dask.distributed`` scheduler address, on that cluster. BLAS threads are limited so that
``workers × BLAS threads`` does not exceed the job's threads. Never one task per target: the
per-target algebra is vectorised within a block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dask
from threadpoolctl import threadpool_limits

from bergforge.errors import ConfigError

log = logging.getLogger(__name__)


def target_blocks(n_targets: int, block_size: int) -> list[slice]:
    """Consecutive slices of at most ``block_size`` targets."""
    if block_size < 1:
        raise ConfigError(f"models.linear.target_block_size = {block_size}; expected ≥ 1")
    return [slice(s, min(s + block_size, n_targets)) for s in range(0, n_targets, block_size)]


def map_blocks(
    func: Callable[..., Any],
    block_args: list[tuple],
    threads: int = 1,
    scheduler: str | None = None,
) -> list[Any]:
    """``[func(*args) for args in block_args]`` as Dask tasks, results in order."""
    tasks = [
        dask.delayed(func, pure=False)(*args, dask_key_name=f"target-block-{i}")
        for i, args in enumerate(block_args)
    ]
    if scheduler:
        from distributed import Client

        with Client(scheduler, set_as_default=False) as client:
            n_workers = len(client.scheduler_info()["workers"])
            log.info(
                "%d target blocks on dask.distributed scheduler %s (%d workers)",
                len(tasks),
                scheduler,
                n_workers,
            )
            return list(client.gather(client.compute(tasks)))
    workers = max(1, min(threads, len(tasks)))
    log.info("%d target blocks on the local threaded scheduler (%d workers)", len(tasks), workers)
    with threadpool_limits(limits=max(1, threads // workers), user_api="blas"):
        return list(dask.compute(*tasks, scheduler="threads", num_workers=workers))
