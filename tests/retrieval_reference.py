"""Retrieval ranks recomputed from a decoder evaluation's saved embeddings (tests' reference).

``retrieval.npz`` holds each test trial's predicted embedding and image; the candidates are the
test images' feature rows, L2-normalised. The rank of a trial is the count of candidates scoring
higher than its own image plus half the ties (0 = first), computed here directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def candidate_rows(saved, stimuli: pd.DataFrame, features) -> tuple[list[str], np.ndarray]:
    """(candidate image ids, their L2-normalised float64 feature rows) of a saved evaluation."""
    images = list(saved["candidate_images"])
    rows = [int(np.flatnonzero(stimuli.image_id == i)[0]) for i in images]
    cand = features.read_rows(np.array(rows)).astype(np.float64)
    return images, cand / np.linalg.norm(cand, axis=1, keepdims=True)


def rank_of(scores: np.ndarray, true: int) -> float:
    """Candidates above ``true``'s score, plus half of the others tied with it."""
    return float((scores > scores[true]).sum() + ((scores == scores[true]).sum() - 1) / 2)


def trial_ranks(saved, images: list[str], cand: np.ndarray) -> np.ndarray:
    """Each saved trial's rank among the candidates."""
    scores = saved["predictions"].astype(np.float64) @ cand.T
    true = [images.index(i) for i in saved["trial_image"]]
    return np.array([rank_of(s, t) for s, t in zip(scores, true, strict=True)])
