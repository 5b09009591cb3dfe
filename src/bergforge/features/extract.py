"""Running a backbone over images (files or another source) in batches, layer by layer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from bergforge.features.images import BatchDecoder
from bergforge.features.models import Backbone
from bergforge.features.sources import ImageSource, as_source


def aggregate_tokens(output: torch.Tensor, mode: str) -> torch.Tensor:
    """Token outputs ``[image, token, dim]``: keep ``all``, the ``cls`` (first) or the ``mean`` token.

    Other shapes (conv maps, vectors) are kept whole whatever the mode.
    """
    if output.ndim != 3 or mode == "all":
        return output
    if mode == "cls":
        return output[:, 0]
    return output.mean(dim=1)


def forward_layers(backbone: Backbone, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """One forward pass: each layer's output, token-aggregated and flattened to ``[image, feature]``."""
    with torch.inference_mode():
        outputs = backbone.module(batch)
        mode = backbone.spec.token_aggregation
        return {
            layer: aggregate_tokens(outputs[layer], mode).flatten(1)
            for layer in backbone.spec.layers
        }


def layer_sizes(backbone: Backbone) -> dict[str, int]:
    """Features per layer of one image (a dry forward pass on a transformed grey image)."""
    from PIL import Image

    device = next(backbone.module.parameters()).device
    probe = backbone.transform(Image.new("RGB", (256, 256), (128, 128, 128)))[None].to(device)
    return {k: int(v.shape[1]) for k, v in forward_layers(backbone, probe).items()}


def iter_batches(
    backbone: Backbone,
    images: ImageSource | Sequence[Path],
    batch_size: int = 32,
    workers: int = 2,
    dtype: np.dtype = np.float32,
    prefetch: bool | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield ``{layer: ndarray [image, feature]}`` per batch of ``images``, in order.

    ``images`` is an :class:`~bergforge.features.sources.ImageSource` or a list of image files.

    With ``prefetch`` the worker threads decode the next batch while the current one runs through
    the model (the default on GPUs); without it, decoding and the forward pass take turns, each
    with all CPU cores (the default on CPUs, where overlapping them only adds contention).
    """
    device = next(backbone.module.parameters()).device
    if prefetch is None:
        prefetch = device.type != "cpu"
    source = as_source(images)
    positions = range(len(source))
    starts = range(0, len(positions), batch_size)
    with BatchDecoder(backbone.transform, source, workers) as decoder:
        pending = decoder.submit(positions[:batch_size]) if positions else []
        for start in starts:
            batch = decoder.collect(pending)
            nxt = positions[start + batch_size : start + 2 * batch_size]
            pending = decoder.submit(nxt) if nxt and prefetch else []
            layers = forward_layers(backbone, batch.to(device, non_blocking=True))
            if nxt and not prefetch:
                pending = decoder.submit(nxt)
            yield {k: v.to("cpu").numpy().astype(dtype, copy=False) for k, v in layers.items()}


def extract_array(
    backbone: Backbone,
    images: ImageSource | Sequence[Path],
    batch_size: int = 32,
    workers: int = 2,
) -> np.ndarray:
    """All layers concatenated, ``[image, feature]`` float32, in memory (small image sets only)."""
    parts = [
        np.concatenate([batch[k] for k in backbone.spec.layers], axis=1)
        for batch in iter_batches(backbone, images, batch_size, workers)
    ]
    return np.concatenate(parts).astype(np.float32, copy=False)
