"""Real Snakemake: simulate → preprocess → features → encode → evaluate, on the session's tiny chain."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.workflow

SUB = "tiny/alexnet_untrained/sub-01"
EVALUATION = f"results/evaluation/{SUB}/evaluation.npz"


def test_encode_and_evaluate_rules_ran_for_real(tiny_built):
    workdir = tiny_built
    model = json.loads((workdir / f"results/models/{SUB}/split-single-3/model.json").read_text())
    # EEG single-3 = training repetition 2; PCA seed 20200220 + subject·1000 + split·10 (BERG)
    assert model["train_repetitions"] == [2] and model["seeds"]["pca"] == 20200220 + 1000 + 30
    assert model["target_shape"] == [63, 140]
    assert model["pca"]["block_size"] == 50000  # the features are streamed in column blocks
    with np.load(workdir / f"results/models/{SUB}/split-all/regression.npz") as reg:
        assert reg["coef_"].shape == (63 * 140, 4)
    with np.load(workdir / EVALUATION) as ev:
        assert ev["correlation"].shape == (5, 63, 140)
        assert ev["test_predictions"].shape == (5, 8, 63, 140)
        assert float(ev["n_test_repetitions"]) == pytest.approx(8)
    summary = json.loads((workdir / f"results/evaluation/{SUB}/summary.json").read_text())
    assert set(summary["splits"]) == {"all", "single-1", "single-2", "single-3", "single-4"}
    assert (workdir / "logs/encode/tiny/alexnet_untrained/sub-01_split-all.log").is_file()
    meg = json.loads(
        (
            workdir / "results/models/tiny_meg/alexnet_untrained/sub-02/split-single-2/model.json"
        ).read_text()
    )
    assert len(meg["train_image_indices"]) == 5  # a quarter of the 20 MEG training images
