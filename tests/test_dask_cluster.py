"""Regression blocks on an existing dask.distributed cluster: scheduler and workers are separate
processes started with the `dask` CLI, as on a cluster (fixture `dask_cluster` in conftest.py);
bergforge only gets the address."""

from __future__ import annotations

import os

import numpy as np
from sklearn.linear_model import Ridge

from bergforge.models.linear.blocks import map_blocks, target_blocks
from bergforge.models.linear.ridge import FoldStatistics, concatenate, solve


def test_ridge_blocks_run_on_separate_worker_processes(dask_cluster):
    from distributed import Client

    address, _ = dask_cluster
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 6))
    y = x @ rng.standard_normal((6, 40)) + rng.standard_normal((120, 40))
    alphas = np.array([0.1, 1.0, 10.0, 100.0])
    stats = FoldStatistics(len(x), x.shape[1], y.shape[1], n_folds=5)
    stats.add(x, y)
    blocks = target_blocks(y.shape[1], 10)
    parts = map_blocks(
        solve, [(stats.subset(b), "ridge_cv", alphas) for b in blocks], scheduler=address
    )
    joined = concatenate(parts)
    local = concatenate(
        map_blocks(solve, [(stats.subset(b), "ridge_cv", alphas) for b in blocks], threads=1)
    )
    np.testing.assert_array_equal(joined.alpha, local.alpha)
    np.testing.assert_allclose(joined.coef, local.coef, rtol=1e-10)
    for t in (0, 17, 39):  # independent reference: scikit-learn Ridge with the chosen alpha
        ref = Ridge(alpha=joined.alpha[t]).fit(x, y[:, t])
        np.testing.assert_allclose(joined.coef[t], ref.coef_, rtol=1e-6, atol=1e-9)

    with Client(address) as client:
        pids = client.run(os.getpid)
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(pids) == 2 and os.getpid() not in pids.values()
    assert sum(executed.values()) >= len(blocks), "every block ran on a worker process"
