"""Decoding stimulus images with PIL as RGB, with one clear error naming a bad file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from bergforge.features.errors import ImageError

if TYPE_CHECKING:
    from bergforge.features.sources import ImageSource


def load_rgb(path: Path) -> Image.Image:
    """The fully decoded image at ``path`` in RGB; missing, unreadable or corrupt is an error.

    Other modes (greyscale, CMYK, palette, RGBA, …) are converted with PIL's ``convert("RGB")``,
    as BERG's feature extraction does (``Image.open(path).convert('RGB')``).
    """
    try:
        with Image.open(path) as img:
            img.load()  # decode now, so truncated or corrupt data fails here
            return img.copy() if img.mode == "RGB" else img.convert("RGB")
    except FileNotFoundError:
        raise ImageError(f"image {path} not found") from None
    except UnidentifiedImageError:
        raise ImageError(f"image {path} is not a readable image file") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"image {path} is unreadable or corrupt: {err}") from None


class BatchDecoder:
    """Decodes and transforms batches of images of one source on a pool of worker threads.

    PIL releases the GIL while decoding and resizing, so threads decode in parallel; ``prefetch``
    starts the next batch while the caller runs the current one through the network.
    """

    def __init__(self, transform: Callable, source: ImageSource, workers: int = 2) -> None:
        self.transform = transform
        self.source = source
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers))

    def _one(self, index: int) -> torch.Tensor:
        return self.transform(self.source.load(index))

    def submit(self, indices: Sequence[int]) -> list[Future]:
        """Start decoding the images at ``indices`` of the source; pass the result to :meth:`collect`."""
        return [self.pool.submit(self._one, int(i)) for i in indices]

    def collect(self, futures: list[Future]) -> torch.Tensor:
        """The batch tensor ``[image, 3, H, W]``; the first failing image raises its error."""
        # NumPy's stack: torch.stack's parallel copy contends with the model's threads
        return torch.from_numpy(np.stack([f.result().numpy() for f in futures]))

    def close(self) -> None:
        """Stop the workers (pending decodes are cancelled)."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BatchDecoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
