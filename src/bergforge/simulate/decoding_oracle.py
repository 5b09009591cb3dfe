"""The oracle of a simulated decoding study: how well a decoder could retrieve with no noise.

A simulated subject's noise-free responses are linear in the driving latents ``d(z)`` of the
image (:mod:`bergforge.simulate.bold5000`; maps of full rank), so a linear decoder fitted on
noise-free responses can at best predict what the least-squares regression of the target
embeddings on ``[1, d(z)]`` over the training images predicts. The oracle is the retrieval of
those predictions among the test images' embeddings (one query per test image: the noise-free
responses of its presentations are the same), with the metrics of
:mod:`bergforge.evaluation.retrieval`. It is the retrieval of a least-squares linear decoder
(``ridge_decoder`` with vanishing noise and alpha), not a bound on retrieval itself: a decoder
trained for retrieval (the CLIP loss of ``fmri_mlp``) weighs the embedding's directions by how
they separate candidates, not by their variance, and can rank better (measured on the simulated
study at low noise: least squares 68 % top-5, ``fmri_mlp`` 78 %, subject-agg, 113 candidates).
"""

from __future__ import annotations

import numpy as np

from bergforge.errors import DataError
from bergforge.evaluation.retrieval import RankSummary, ranks, scores, summarise


def oracle_retrieval(
    embeddings: np.ndarray, driving: np.ndarray, train: np.ndarray, test: np.ndarray
) -> RankSummary:
    """Retrieval of the linear oracle; rows of ``embeddings`` ``[image, dims]`` and ``driving``
    ``[image, latents]`` are the study's images, ``train``/``test`` their boolean masks."""
    e, d = np.asarray(embeddings, np.float64), np.asarray(driving, np.float64)
    train, test = np.asarray(train, bool), np.asarray(test, bool)
    if len(e) != len(d) or len(train) != len(e) or len(test) != len(e):
        raise DataError(
            f"embeddings ({len(e)} rows), driving latents ({len(d)}) and the masks "
            f"({len(train)}, {len(test)}); expected one row per image of the study"
        )
    if (train & test).any() or test.sum() < 2 or train.sum() <= d.shape[1] + 1:
        raise DataError(
            "expected disjoint training and test images, at least 2 test images and more "
            "training images than latents + 1"
        )
    x = np.column_stack([np.ones(len(d)), d])
    coef = np.linalg.lstsq(x[train], e[train], rcond=None)[0]
    predictions = x[test] @ coef
    candidates = e[test]
    rank = ranks(scores(predictions, candidates), np.arange(len(candidates)))
    return summarise(rank, len(candidates))
