"""``weights.safetensors`` of an ``fmri_mlp`` or ``fmri_linear`` model folder and decoding with it.

The tensors are the network's state dict under PyTorch's names (float32): ``lin0.weight``
(hidden, n_features), ``lin0.bias``, ``norm0.weight``, ``norm0.bias``,
``blocks.{i}.linear.weight`` / ``.bias``, ``blocks.{i}.norm.weight`` / ``.bias``,
``out_linear.weight`` (1, n_trs) / ``.bias`` (time aggregation ``out_linear`` only),
``lin1.weight`` (n_out, hidden), ``lin1.bias``, ``head.weight`` (n_out, n_out), ``head.bias``
(a ``linear`` network has no ``norm0.*`` and no blocks);
with subject layers also ``subject_layers.weight`` (n_subjects, n_features, hidden) and
``subject_layers.bias`` (n_subjects, hidden), and ``lin0.weight`` is (hidden, hidden).
The network's sizes are ``model.json``'s ``network``; its ``subject_layers`` is null, or the
subject numbers of the layer's rows (row k: the k-th subject of the fit). Written by the ``mlp``
kind's safetensors writer (same arrays → same bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError
from bergforge.models.decoding.record import check_responses, load_network_folder
from bergforge.models.decoding.settings import DecoderConfig

#: trials decoded per forward pass
DECODE_BATCH = 256


def network_record(
    n_features: int, n_out: int, cfg: DecoderConfig, subjects: Sequence[int] = ()
) -> dict[str, Any]:
    """``model.json``'s ``network``: what rebuilds the network around the weights (``subjects``:
    the fit's subjects in order, recorded as the subject layer's rows when it has one)."""
    return {
        "n_features": n_features,
        "n_out": n_out,
        "hidden": cfg.hidden,
        "n_blocks": cfg.n_blocks,
        "n_trs": cfg.n_trs,
        "time_agg": cfg.time_agg,
        "dropout_in": cfg.dropout_in,
        "dropout_blocks": cfg.dropout_blocks,
        "subject_layers": [int(s) for s in subjects] if cfg.subject_layers else None,
        "linear": cfg.linear,
    }


def subject_rows(record: dict[str, Any], subjects: Any, n_trials: int, folder: Path) -> Any:
    """Each trial's row of the subject layer (int64 ``[n_trials]``), from ``subjects`` (one subject
    number, or one per trial); None for a network without subject layers (``subjects`` unused)."""
    known = record.get("network", {}).get("subject_layers")
    if not known:
        return None
    if subjects is None:
        raise DataError(
            f"the decoder in {folder} has a layer per subject ({known}); pass each trial's "
            "subject (one subject number, or one per trial)"
        )
    given = np.asarray(subjects)
    if given.ndim == 0:
        given = np.full(n_trials, given)
    if given.shape != (n_trials,) or not np.issubdtype(given.dtype, np.integer):
        raise DataError(
            f"subjects of shape {given.shape} and dtype {given.dtype}; expected one subject "
            f"number or {n_trials} (one per trial), integers"
        )
    unknown = sorted(set(given.tolist()) - set(known))
    if unknown:
        raise DataError(
            f"subject(s) {unknown}: the decoder in {folder} has subject layers for {known} "
            "only (it cannot decode a subject it was not trained on)"
        )
    row = {s: k for k, s in enumerate(known)}
    return np.array([row[s] for s in given.tolist()], dtype=np.int64)


class FmriMlpDecoder:
    """A fitted ``fmri_mlp`` or ``fmri_linear`` (eval mode, on the CPU) and the record it was
    saved with."""

    def __init__(self, network: Any, record: dict[str, Any], folder: Path) -> None:
        self.network, self.record, self.folder = network, record, folder

    @classmethod
    def load(cls, folder: Path | str, kind: str = "fmri_mlp") -> FmriMlpDecoder:
        """The decoder of ``kind`` in ``folder`` (verified; a damaged or mismatched file, or a
        model of another kind, is one error)."""
        import torch

        from bergforge.models.decoding.network import FmriMlp

        def build(record: dict[str, Any], tensors: dict[str, np.ndarray]) -> FmriMlp:
            net = record["network"]
            network = FmriMlp(
                int(net["n_features"]),
                int(net["n_out"]),
                int(net["hidden"]),
                int(net["n_blocks"]),
                int(net["n_trs"]),
                str(net["time_agg"]),
                float(net["dropout_in"]),
                float(net["dropout_blocks"]),
                len(net.get("subject_layers") or []),  # absent in folders of before the option
                bool(net.get("linear", False)),  # likewise
            )
            network.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
            return network

        network, record = load_network_folder(folder, kind, build)
        if kind == "fmri_linear" and not record["network"].get("linear"):
            raise DataError(f"{folder}: an fmri_linear model.json whose network is not linear")
        return cls(network.eval(), record, Path(folder))

    def decode(
        self, responses: Any, subjects: Any = None, batch_size: int = DECODE_BATCH
    ) -> np.ndarray:
        """Embeddings ``[trial, n_out]`` (float32) of windows ``[trial, n_features, n_trs]``;
        ``subjects`` (one subject number or one per trial) is needed by a network with subject
        layers (:func:`subject_rows`) and unused otherwise."""
        import torch

        x = check_responses(responses, self.record, self.folder)
        rows = subject_rows(self.record, subjects, x.shape[0], self.folder)
        out = np.empty((x.shape[0], int(self.record["n_dims"])), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size]))
                subj = None if rows is None else torch.from_numpy(rows[start : start + batch_size])
                out[start : start + batch.shape[0]] = self.network(batch, None, subj).numpy()
        return out
