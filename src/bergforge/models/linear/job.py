"""The encode and evaluate jobs of the workflow, as plain functions taking paths (scripts stay thin)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from bergforge.errors import DataError
from bergforge.logs import log_runtime
from bergforge.models.linear.fit import EncodingOptions, fit_model
from bergforge.preprocess.responses import PreparedResponses
from bergforge.preprocess.stimuli import read_stimuli

log = logging.getLogger(__name__)


def open_features(manifest: Path | str):
    """The feature shards of a ``features.json`` manifest as one matrix (features stage)."""
    from bergforge.features.store import FeatureStore

    return FeatureStore.open(manifest)


def encode_job(
    prepared: Path | str,
    stimuli: Path | str,
    features: Path | str,
    split: str,
    encoding: dict[str, Any] | None,
    model_json: Path | str,
    threads: int = 1,
    runtime: dict[str, Any] | None = None,
) -> None:
    """Fit one subject × split model; its files go beside ``model_json``.

    ``encoding`` holds the result settings of config ``encoding``; ``runtime`` its runtime keys
    (``dask_scheduler``) and the job's ``mem_mb``. The values used go to the log only: model.json
    is exported, and must not depend on how the model was computed.
    """
    runtime = dict(runtime or {})
    scheduler = {k: runtime[k] for k in ("dask_scheduler",) if k in runtime}
    options = EncodingOptions.from_config({**(encoding or {}), **scheduler})
    log_runtime(
        {
            "threads": max(1, threads),
            "dask_scheduler": options.dask_scheduler or "threads",
            **{k: runtime[k] for k in ("mem_mb",) if k in runtime},
        },
        log,
    )
    store = open_features(features)
    table = read_stimuli(stimuli)
    if list(table["image_id"]) != list(store.image_ids):
        raise DataError(f"feature rows of {features} do not follow the images of {stimuli}")
    with threadpool_limits(limits=max(1, threads), user_api="blas"):
        fit_model(
            PreparedResponses(prepared),
            table,
            store,
            split,
            options,
            Path(model_json).parent,
            threads=threads,
            provenance={"features": str(features), "prepared": str(prepared)},
        )
