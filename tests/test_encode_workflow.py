"""Real Snakemake: simulate → preprocess → features → encode → evaluate, on the session's tiny chain."""

from __future__ import annotations

import json
import re

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
    assert (workdir / "logs/models/tiny/alexnet_untrained/sub-01_split-all.log").is_file()
    meg = json.loads(
        (
            workdir / "results/models/tiny_meg/alexnet_untrained/sub-02/split-single-2/model.json"
        ).read_text()
    )
    assert len(meg["train_image_indices"]) == 5  # a quarter of the 20 MEG training images


def test_demo_accuracy_against_the_truth_of_the_prepared_data(tiny_built, capsys, tmp_path):
    """`bergforge demo-accuracy` equals the median % of the true NC computed here from the
    prepared-data truth (results/truth/) and the evaluation's correlations."""
    import zarr

    from bergforge.cli import main
    from bergforge.errors import DataError
    from bergforge.simulate.accuracy import study_accuracy, subject_accuracy

    workdir = tiny_built
    results = workdir / "results"
    assert main(["demo-accuracy", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"tiny_meg\s+alexnet_untrained", out) and "%NC single-4" in out
    assert re.search(r"tiny\s+toy_alexnet_untrained", out)  # a one-split model shows nan elsewhere
    rows = {(r.dataset, r.model, r.subject): r for r in study_accuracy(results, threshold=5)}
    assert ("tiny", "alexnet_untrained", 1) in rows and ("tiny_meg", "alexnet_untrained", 2) in rows
    page = (results / "summary/index.html").absolute()
    assert out.rstrip().splitlines()[-1] == f"summary page: {page}"  # `make demo` ends with it

    # independently: MEG subject 2, channels matched by name
    prepared = results / "prepared/tiny_meg/sub-02.zarr"
    channels = list(zarr.open_group(str(prepared), mode="r").attrs["channels"])
    truth_path = results / "truth/tiny_meg/sub-02.npz"
    with np.load(truth_path) as t:
        names = [str(c) for c in t["channels"]]
        nc_true = t["noise_ceiling"][[names.index(c) for c in channels]].ravel()
        assert "MRO11-1609" not in names  # the truth went through the same channel drop
    evaluation = results / "evaluation/tiny_meg/alexnet_untrained/sub-02/evaluation.npz"
    with np.load(evaluation) as ev:
        r = ev["correlation"].reshape(5, -1)
        nc_est = ev["noise_ceiling"].ravel()
    signal = nc_true > 5
    expected = 100 * np.maximum(r[:, signal], 0) ** 2 / (nc_true[signal] / 100)
    row = rows[("tiny_meg", "alexnet_untrained", 2)]
    assert row.n_signal == signal.sum() > 0 and row.n_targets == nc_true.size
    assert row.median_percent_nc["all"] == pytest.approx(np.nanmedian(expected[0]))
    assert row.median_percent_nc["single-4"] == pytest.approx(np.nanmedian(expected[4]))
    assert row.median_nc_true == pytest.approx(np.median(nc_true[signal]))
    assert row.nc_difference[1] == pytest.approx(np.median(nc_est[signal] - nc_true[signal]))

    # a truth of other channels is refused, naming the store and the truth file
    with np.load(truth_path) as t:
        other = {k: t[k] for k in t.files}
    other["channels"] = np.array([f"X{i}" for i in range(len(names))])
    np.savez(tmp_path / "sub-02.npz", **other)
    with pytest.raises(DataError, match=r"channels \['MLC11-1609'.*not in the truth"):
        subject_accuracy(evaluation, tmp_path / "sub-02.npz", prepared)
