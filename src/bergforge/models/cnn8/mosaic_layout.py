"""The MOSAIC package's checkpoint layout for the multi-head CNN8, both ways.

BERG loads this model with ``mosaic.from_pretrained("CNN8", "multihead", "NSD", "all",
folder=...)``, which builds ``nn.DataParallel(EncoderMultiHead(C8NonSteerableCNN(), ...))`` and
loads the ``.pth`` file strictly. That file is a plain state dict with the keys
``module.core.block{1…8}.{0,1}.*`` (each block's convolution and batch norm) and
``module.subject_readouts.sub-XX_NSD.{spatial,_features,bias}``. bergforge names the same tensors
``core.features.{i}.*`` and ``readouts.sub-XX_NSD.{spatial,features,bias}``.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from bergforge.errors import ModelLoadError
from bergforge.models.cnn8.network import CNN8Core

PREFIX = "module."  # the checkpoints were saved under nn.DataParallel
READOUT_PARAMS = {"spatial": "spatial", "features": "_features", "bias": "bias"}


@lru_cache(maxsize=1)
def core_module_names() -> dict[str, str]:
    """bergforge core module → MOSAIC module (``features.0`` → ``block1.0``, the BN → ``block1.1``)."""
    names, block = {}, 0
    for index, module in enumerate(CNN8Core(width=1).features):
        if isinstance(module, nn.Conv2d):
            block += 1
            names[f"features.{index}"] = f"block{block}.0"
        elif isinstance(module, nn.BatchNorm2d):
            names[f"features.{index}"] = f"block{block}.1"
    return names


def _mosaic_key(key: str) -> str:
    part, _, rest = key.partition(".")
    module, _, param = rest.rpartition(".")
    if part == "core" and module in core_module_names():
        return f"{PREFIX}core.{core_module_names()[module]}.{param}"
    if part == "readouts" and param in READOUT_PARAMS:
        return f"{PREFIX}subject_readouts.{module}.{READOUT_PARAMS[param]}"
    raise ModelLoadError(f"CNN8 state key {key!r} has no place in the MOSAIC layout")


def to_mosaic(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """bergforge's ``MultiHeadEncoder`` state dict in MOSAIC's checkpoint layout."""
    return {_mosaic_key(key): value for key, value in state.items()}


def from_mosaic(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A MOSAIC CNN8 checkpoint (with or without ``module.``) as bergforge's state dict."""
    core = {mosaic: ours for ours, mosaic in core_module_names().items()}
    params = {mosaic: ours for ours, mosaic in READOUT_PARAMS.items()}
    out = {}
    for key, value in state.items():
        name = key.removeprefix(PREFIX)
        part, _, rest = name.partition(".")
        module, _, param = rest.rpartition(".")
        if part == "core" and module in core:
            out[f"core.{core[module]}.{param}"] = value
        elif part == "subject_readouts" and param in params:
            out[f"readouts.{module}.{params[param]}"] = value
        else:
            raise ModelLoadError(
                f"checkpoint key {key!r} is not part of a MOSAIC CNN8 multi-head model; expected "
                "module.core.block{1-8}.* or module.subject_readouts.<subject>.{spatial,_features,bias}"
            )
    return out
