"""The data of a decoding fit: every subject's trials, pooled, and each trial's target embedding.

The decoders (``ridge_decoder``, ``fmri_mlp``) are fitted on every subject of a dataset at once,
as neuralbench trains its fMRI decoder: the trial-indexed prepared stores
(:class:`~bergforge.preprocess.trial_responses.PreparedTrials`, one per subject, in the fit
request's order) must hold trials of the same dims, target shape and coordinates (BOLD windows on
fsaverage5: ``[trial, vertex, tr]`` with the same vertices and TR offsets). Their trial tables,
one after another, are the pooled table; its ``split`` column says which trials are fitted
(``train``), which stop the training (``validation``) and which are only evaluated (``test``).
A trial's target is the feature row of its image (:mod:`bergforge.features.image_rows`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bergforge.errors import DataError
from bergforge.features.image_rows import feature_rows_of, image_embeddings, open_embeddings
from bergforge.models.kind import FitRequest
from bergforge.preprocess.trial_responses import PreparedTrials

#: trials read from a store at once (bounded extra memory while the pooled array is filled)
READ_BLOCK = 256
#: the one training split of a decoder (one model for every subject)
SPLIT = "all"


@dataclass
class PooledTrials:
    """Every subject's trials as one table, read on demand, with their target embeddings."""

    stores: list[PreparedTrials]
    #: the pooled trial table; besides the stores' columns: ``store`` (index into ``stores``),
    #: ``trial`` (the row in that store) and ``feature_row`` (the image's feature row)
    table: pd.DataFrame
    features: Any  # the feature matrix (rows follow stimuli.tsv)

    @property
    def dims(self) -> list[str]:
        return self.stores[0].dims

    @property
    def target_shape(self) -> tuple[int, ...]:
        return self.stores[0].target_shape

    @property
    def n_dims(self) -> int:
        """Size of a target embedding."""
        return int(self.features.shape[1])

    def rows(self, splits: tuple[str, ...]) -> np.ndarray:
        """Positions in the pooled table of the trials of ``splits`` (in table order)."""
        return np.flatnonzero(self.table["split"].isin(splits).to_numpy())

    def training_rows(self, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, fit, validation) of a trained decoder: the pooled-table rows of the ``train``
        and ``validation`` trials, and the positions among them of each; one error naming the
        stores unless there are both (validation stops the training)."""
        rows = self.rows(("train", "validation"))
        split = self.table["split"].to_numpy()[rows]
        fit, validation = np.flatnonzero(split == "train"), np.flatnonzero(split == "validation")
        if fit.size == 0 or validation.size == 0:
            raise DataError(
                f"{kind}: {fit.size} train and {validation.size} validation trials in "
                f"{[s.label for s in self.stores]}; expected both (validation stops the training)"
            )
        return rows, fit, validation

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The data of pooled-table ``rows`` as one float32 array ``[len(rows), *target_shape]``,
        filled store by store in blocks of :data:`READ_BLOCK` trials."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((rows.size, *self.target_shape), dtype=np.float32)
        store_of = self.table["store"].to_numpy()[rows]
        trial_of = self.table["trial"].to_numpy()[rows]
        for k, store in enumerate(self.stores):
            where = np.flatnonzero(store_of == k)
            for start in range(0, where.size, READ_BLOCK):
                part = where[start : start + READ_BLOCK]
                out[part] = store.read(trial_of[part])
        return out

    def read_onto(self, rows: np.ndarray, device: Any) -> tuple[Any, Any]:
        """The data of pooled-table ``rows`` as one float32 torch tensor on ``device``, filled
        block by block (the host holds one block of :data:`READ_BLOCK` trials at a time, never the
        whole array: on a GPU the windows live on the device only), and the SHA-256 digest that
        :func:`bergforge.models.mlp.train.fingerprint` computes of that array, to be continued with
        the targets (``fingerprint(y, start=digest)``)."""
        import torch

        rows = np.asarray(rows, dtype=np.int64)
        shape = (int(rows.size), *(int(n) for n in self.target_shape))
        out = torch.empty(shape, dtype=torch.float32, device=device)
        digest = hashlib.sha256(f"float32{shape}".encode())
        for start in range(0, rows.size, READ_BLOCK):
            block = np.ascontiguousarray(self.read(rows[start : start + READ_BLOCK]))
            digest.update(block.data)
            out[start : start + block.shape[0]] = torch.from_numpy(block)
        return out, digest

    def targets(self, rows: np.ndarray) -> np.ndarray:
        """Target embeddings (float32 ``[len(rows), n_dims]``) of pooled-table ``rows``."""
        return image_embeddings(self.features, self.table["feature_row"].to_numpy()[rows])

    def counts(self) -> dict[str, dict[str, int]]:
        """Trials per subject (``sub-XX``) and split."""
        out: dict[str, dict[str, int]] = {}
        for (subject, split), n in self.table.groupby(["subject", "split"]).size().items():
            out.setdefault(f"sub-{int(subject):02d}", {})[str(split)] = int(n)
        return out

    def coords_sha256(self) -> str:
        """SHA-256 of the target axes' coordinates (which vertices, channels, TR offsets)."""
        text = json.dumps(self.stores[0].coords, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def check_split(split: str, kind: str) -> None:
    if split != SPLIT:
        raise DataError(f"{kind} fits one model per dataset (split {SPLIT!r}); got {split!r}")


def open_stores(request: FitRequest) -> list[PreparedTrials]:
    """Every subject's trial store of a fit request, each checked to be that subject's and all
    of the same dims, target shape and coordinates."""
    if len(request.prepared) != len(request.subjects) or not request.prepared:
        raise DataError(
            f"{len(request.prepared)} prepared stores for subjects {list(request.subjects)}; "
            "expected one trial-indexed store per subject"
        )
    stores = [PreparedTrials(p) for p in request.prepared]
    first = stores[0]
    for subject, store in zip(request.subjects, stores, strict=True):
        if store.subject != int(subject):
            raise DataError(f"{store.label} is subject {store.subject}'s; expected {subject}'s")
        if (store.dims, store.target_shape, store.coords) != (
            first.dims,
            first.target_shape,
            first.coords,
        ):
            raise DataError(
                f"{store.label}: trials of dims {store.dims} and shape {store.target_shape} (or "
                f"other coordinates) than {first.label}'s ({first.dims}, {first.target_shape}); "
                "expected every subject on the same targets (e.g. fsaverage5 vertices × TRs) to "
                "pool them"
            )
    return stores


def pooled_trials(request: FitRequest) -> PooledTrials:
    """The pooled trials of a fit request (stores, stimuli and features checked)."""
    if request.features is None:
        raise DataError("a decoder reads its targets from features; the fit request has none")
    stores = open_stores(request)
    stimuli, features = open_embeddings(request.stimuli, request.features)
    return pool(stores, stimuli, features)


def pool(stores: list[PreparedTrials], stimuli: pd.DataFrame, features: Any) -> PooledTrials:
    """The pooled table of ``stores`` (their trial tables one after another)."""
    parts = []
    for k, store in enumerate(stores):
        table = store.trials
        subjects = table["subject"].to_numpy()
        if (subjects != store.subject).any():
            raise DataError(
                f"{store.label}: its trial table names subject(s) "
                f"{sorted(set(subjects.tolist()) - {store.subject})} besides the store's "
                f"{store.subject}; expected one subject per store"
            )
        part = table[["subject", "session", "run", "image", "split", "onset"]].copy()
        part["store"] = k
        part["trial"] = np.arange(len(table))
        part["feature_row"] = feature_rows_of(stimuli, table["image"].tolist(), store.label)
        parts.append(part)
    return PooledTrials(stores, pd.concat(parts, ignore_index=True), features)
