"""Rebuild a trained multi-head CNN8 from ``model.pt`` (``{"config", "state_dict"}``) or from an
exported ``.pth`` in MOSAIC's checkpoint layout (:mod:`bergforge.models.cnn8.mosaic_layout`)."""

from __future__ import annotations

from pathlib import Path

import torch

from bergforge.errors import ModelLoadError
from bergforge.models.cnn8.mosaic_layout import from_mosaic
from bergforge.models.cnn8.network import MultiHeadEncoder

HEAD_PREFIX = "readouts."
#: MOSAIC's input size; a MOSAIC-layout file does not record it
MOSAIC_INPUT_SIZE = 224


def head_sizes(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """Vertices of each readout head (``sub-01_NSD`` → n), read from the bias shapes."""
    return {
        key[len(HEAD_PREFIX) : -len(".bias")]: int(value.shape[0])
        for key, value in state_dict.items()
        if key.startswith(HEAD_PREFIX) and key.endswith(".bias")
    }


def read_checkpoint(path: Path | str, device: str = "cpu") -> dict:
    """The one reader of ``model.pt`` (``{"config", "state_dict"}``) and of MOSAIC-layout files:
    the saved dict, tensors only (``weights_only``: nothing in the file runs code)."""
    return torch.load(Path(path), map_location=device, weights_only=True)


def load_multihead(
    path: Path, device: str = "cpu", heads: list[str] | None = None, input_size: int | None = None
) -> tuple[MultiHeadEncoder, dict]:
    """The model (eval mode) and its config; ``heads`` keeps only those readouts.

    ``input_size`` is needed for a MOSAIC-layout file (default 224, MOSAIC's); ``model.pt``
    records its own.
    """
    try:
        saved = read_checkpoint(path, device)
        if "config" in saved and "state_dict" in saved:
            config, state = saved["config"], saved["state_dict"]
        else:
            state = from_mosaic(saved)
            width = int(state["core.features.0.weight"].shape[0])
            config = {"width": width, "input_size": input_size or MOSAIC_INPUT_SIZE}
    except Exception as err:
        raise ModelLoadError(
            f"cannot read CNN8 weights {path}: {err}; expected bergforge's model.pt or a MOSAIC "
            "CNN8 multi-head checkpoint"
        ) from err
    sizes = head_sizes(state)
    keep = sorted(sizes) if heads is None else heads
    missing = [h for h in keep if h not in sizes]
    if missing:
        raise ModelLoadError(f"{path} has no readout head(s) {missing}; it has {sorted(sizes)}")
    model = MultiHeadEncoder({h: sizes[h] for h in keep}, config["width"], config["input_size"])
    wanted = {
        k: v
        for k, v in state.items()
        if not k.startswith(HEAD_PREFIX) or k[len(HEAD_PREFIX) :].split(".")[0] in keep
    }
    model.load_state_dict(wanted)
    return model.to(device).eval(), config
