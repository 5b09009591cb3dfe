"""The fit job of the ``ridge_decoder`` kind: every subject's ``train`` trials → one decoder →
``scaler.npz``, ``pca.npz``, ``readout.npz`` and ``model.json`` (written last) in
``results/models/{dataset}/ridge_decoder-{backbone}/``; and loading it back."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.atomic import save_json
from bergforge.errors import DataError
from bergforge.logs import log_runtime
from bergforge.models.decoding.data import check_split, pooled_trials
from bergforge.models.decoding.record import MARKER, base_record, read_record
from bergforge.models.kind import FitRequest
from bergforge.models.linear.matrix import ArrayFeatures
from bergforge.models.ridge_decoder.model import RidgeDecoder, RidgeDecoderConfig, fit_ridge_decoder

log = logging.getLogger(__name__)


def fit_ridge_decoder_job(request: FitRequest, folder: Path) -> dict[str, Any]:
    """Fit the dataset's ridge decoder of a fit job into ``folder``; returns ``model.json``."""
    from threadpoolctl import threadpool_limits

    check_split(request.split, "ridge_decoder")
    cfg = RidgeDecoderConfig.from_settings(request.settings)
    threads = max(1, int(request.threads))
    log_runtime({"threads": threads, **request.runtime}, log)
    data = pooled_trials(request)
    rows = data.rows(("train",))
    if rows.size == 0:
        raise DataError(
            f"ridge_decoder: no train trials in {[s.label for s in data.stores]}; expected some"
        )
    x = data.read(rows)
    x = x.reshape(x.shape[0], -1)
    y = data.targets(rows)
    log.info(
        "ridge_decoder: %d train trials of %d subjects, %d values each → %d dims",
        rows.size,
        len(data.stores),
        x.shape[1],
        data.n_dims,
    )
    with threadpool_limits(limits=threads, user_api="blas"):
        decoder = fit_ridge_decoder(ArrayFeatures(x), y, np.arange(rows.size), cfg)
    folder = Path(folder)
    decoder.save(folder)
    model = {
        **base_record("ridge_decoder", request, data),
        "n_components": int(decoder.pca.n_components_),
        "settings": {
            "n_components": cfg.n_components,
            "alphas": list(cfg.alphas),
            "folds": cfg.folds,
            "seed": cfg.seed,
            "pca": dict(cfg.pca),
        },
        "seeds": {"pca": cfg.seed},
    }
    save_json(folder / MARKER, model)
    return model


def load_decoder(folder: Path | str) -> tuple[RidgeDecoder, dict[str, Any]]:
    """The decoder of a verified ``ridge_decoder`` folder and its ``model.json``."""
    folder = Path(folder)
    record = read_record(folder, "ridge_decoder")  # verifies the folder first
    decoder = RidgeDecoder.load(folder)
    n_values = int(np.prod(record["target_shape"]))
    if decoder.n_inputs != n_values or decoder.n_dims != int(record["n_dims"]):
        raise DataError(
            f"{folder}: a decoder of {decoder.n_inputs} values → {decoder.n_dims} dims, but "
            f"model.json says {n_values} → {record['n_dims']}; delete the folder and rerun its fit"
        )
    return decoder, record
