"""``weights.safetensors`` of an ``fmri_mlp`` model folder and decoding with it.

The tensors are the network's state dict under PyTorch's names (float32): ``lin0.weight``
(hidden, n_features), ``lin0.bias``, ``norm0.weight``, ``norm0.bias``,
``blocks.{i}.linear.weight`` / ``.bias``, ``blocks.{i}.norm.weight`` / ``.bias``,
``out_linear.weight`` (1, n_trs) / ``.bias`` (time aggregation ``out_linear`` only),
``lin1.weight`` (n_out, hidden), ``lin1.bias``, ``head.weight`` (n_out, n_out), ``head.bias``.
The network's sizes are ``model.json``'s ``network``. Written by the ``mlp`` kind's safetensors
writer (same arrays → same bytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError
from bergforge.models.decoding.record import check_responses, read_record
from bergforge.models.decoding.settings import DecoderConfig

WEIGHTS = "weights.safetensors"
#: trials decoded per forward pass
DECODE_BATCH = 256


def network_record(n_features: int, n_out: int, cfg: DecoderConfig) -> dict[str, Any]:
    """``model.json``'s ``network``: what rebuilds the network around the weights."""
    return {
        "n_features": n_features,
        "n_out": n_out,
        "hidden": cfg.hidden,
        "n_blocks": cfg.n_blocks,
        "n_trs": cfg.n_trs,
        "time_agg": cfg.time_agg,
        "dropout_in": cfg.dropout_in,
        "dropout_blocks": cfg.dropout_blocks,
    }


class FmriMlpDecoder:
    """A fitted ``fmri_mlp`` (eval mode, on the CPU) and the record it was saved with."""

    def __init__(self, network: Any, record: dict[str, Any], folder: Path) -> None:
        self.network, self.record, self.folder = network, record, folder

    @classmethod
    def load(cls, folder: Path | str) -> FmriMlpDecoder:
        """The decoder in ``folder`` (verified; a damaged or mismatched file is one error)."""
        import torch
        from safetensors import SafetensorError
        from safetensors.numpy import load

        from bergforge.models.decoding.network import FmriMlp

        folder = Path(folder)
        record = read_record(folder, "fmri_mlp")  # verifies the folder first
        path = folder / WEIGHTS
        try:
            tensors = load(path.read_bytes())
        except (SafetensorError, OSError, ValueError) as err:
            raise DataError(f"{path}: not a safetensors file ({err})") from err
        try:
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
            )
            network.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise DataError(
                f"{path} does not hold the network model.json describes ({err}); delete the "
                "folder and rerun its fit"
            ) from err
        return cls(network.eval(), record, folder)

    def decode(self, responses: Any, batch_size: int = DECODE_BATCH) -> np.ndarray:
        """Embeddings ``[trial, n_out]`` (float32) of windows ``[trial, n_features, n_trs]``."""
        import torch

        x = check_responses(responses, self.record, self.folder)
        out = np.empty((x.shape[0], int(self.record["n_dims"])), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size]))
                out[start : start + batch.shape[0]] = self.network(batch).numpy()
        return out
