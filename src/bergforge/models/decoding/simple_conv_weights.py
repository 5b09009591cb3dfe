"""``weights.safetensors`` of a ``simple_conv`` model folder and decoding with it.

The tensors are ``SimpleConvTimeAgg``'s state dict under PyTorch's names (float32), the sensor
positions (``positions``, channels × 2 or 3, normalised to [0, 1]) among them; the network's
sizes are ``model.json``'s ``network`` and its hyperparameters ``settings``. Written by the
``mlp`` kind's safetensors writer (same arrays → same bytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bergforge.models.decoding.record import check_responses, load_network_folder
from bergforge.models.decoding.simple_conv_settings import SimpleConvConfig

KIND = "simple_conv"
#: trials decoded per forward pass
DECODE_BATCH = 256


def network_record(n_channels: int, n_times: int, n_out: int, n_position_dims: int) -> dict:
    """``model.json``'s ``network``: the sizes that rebuild the network around the weights."""
    return {
        "name": "SimpleConvTimeAgg",
        "n_channels": n_channels,
        "n_times": n_times,
        "n_out": n_out,
        "n_position_dims": n_position_dims,
    }


class SimpleConvDecoder:
    """A fitted ``simple_conv`` network (eval mode, on the CPU) and its record."""

    def __init__(self, network: Any, record: dict[str, Any], folder: Path) -> None:
        self.network, self.record, self.folder = network, record, folder

    @classmethod
    def load(cls, folder: Path | str) -> SimpleConvDecoder:
        """The decoder in ``folder`` (verified; a damaged or mismatched file is one error)."""
        import torch

        from bergforge.models.decoding.simple_conv_train import load_network

        def build(record: dict[str, Any], tensors: dict[str, np.ndarray]) -> Any:
            net = record["network"]
            cfg = SimpleConvConfig.from_settings(record["settings"], {"device": "cpu"})
            return load_network(
                tensors, int(net["n_times"]), int(net["n_out"]), cfg, torch.device("cpu")
            )

        network, record = load_network_folder(folder, KIND, build)
        return cls(network, record, Path(folder))

    def decode(self, responses: Any, batch_size: int = DECODE_BATCH) -> np.ndarray:
        """Embeddings ``[trial, n_out]`` (float32) of windows ``[trial, channel, time]``."""
        from bergforge.models.decoding.simple_conv_train import embed

        x = check_responses(responses, self.record, self.folder)
        return embed(self.network, x, batch_size)
