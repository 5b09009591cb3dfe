"""CNN8 inputs decoded from ``nsd_stimuli.hdf5`` only when a batch asks for them.

Used with the memory-mapped targets of :func:`bergforge.preprocess.own_rows.averaged_targets`, so CNN8
training, validation, prediction and evaluation never hold the whole image set: at most one batch
of raw and transformed images is in memory.
"""

from __future__ import annotations

import numpy as np
import torch

from bergforge.datasets.mosaic import NsdStimuli
from bergforge.models.cnn8.transform import to_model_input


class StimulusImages:
    """CNN8 inputs (n, 3, size, size) of given 73k ids, decoded from an open imgBrick when indexed."""

    def __init__(self, stimuli: NsdStimuli, ids_73k: np.ndarray, size: int) -> None:
        self.stimuli = stimuli
        self.ids = np.asarray(ids_73k, dtype=np.int64).reshape(-1)
        self.size = int(size)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(n, 3, size, size), as a preloaded tensor would have."""
        return (self.ids.size, 3, self.size, self.size)

    def __len__(self) -> int:
        return int(self.ids.size)

    def __getitem__(self, index) -> torch.Tensor:
        ids = np.atleast_1d(self.ids[index])
        if ids.size == 0:
            return torch.empty((0, 3, self.size, self.size))
        block = self.stimuli.read(ids)  # reads in increasing row order, returns in ours
        return to_model_input(torch.from_numpy(block).permute(0, 3, 1, 2), self.size)


#: image sets up to this size (float32 inputs) are decoded once and kept in memory
PRELOAD_BYTES = 512 * 2**20


def preloaded(images: StimulusImages, budget: int | None = None) -> StimulusImages | torch.Tensor:
    """All of ``images`` decoded once into one tensor when they fit in ``budget`` bytes (the demo,
    tests), else ``images`` itself: rows are the same bits either way (the transform works image
    by image), only the number of reads of the stimulus file changes."""
    budget = PRELOAD_BYTES if budget is None else budget
    n, c, h, w = images.shape
    if n == 0 or n * c * h * w * 4 > budget:
        return images
    return images[np.arange(n)]
