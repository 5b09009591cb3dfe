"""The truth of the prepared data (bergforge.simulate.prepared_truth) against the pipeline itself.

A small study per modality is simulated with many test repetitions and prepared by the real
preprocessing (`prepare_subject`, reading the raw files the simulator wrote). Its noise variance,
measured directly on the prepared test trials, must equal the truth's; the evaluation's
noise-ceiling estimate must agree with the true ceiling within the spread the truth's own
pseudo-studies give; and the simulator's analytic ceiling of the raw trials must not (which is why
the prepared-data truth exists).
"""

from __future__ import annotations

import numpy as np
import pytest

from bergforge.evaluation.noise_ceiling import noise_ceiling, summarize_test
from bergforge.preprocess import eeg, meg
from bergforge.preprocess.params import eeg_params, meg_params
from bergforge.preprocess.responses import PreparedResponses
from bergforge.simulate.accuracy import aligned_truth
from bergforge.simulate.study import simulate_prepared_truth, truth_path
from bergforge.simulate.truth import SubjectTruth
from conftest import simulate_study

pytestmark = pytest.mark.workflow

STUDIES = {
    "eeg": {
        "format": "things_eeg2",
        "source": "simulated",
        "subjects": [1],
        "simulation": {
            "seed": 8,
            "n_sessions": 4,
            "n_train_concepts": 3,
            "images_per_concept": 2,
            "n_test_images": 30,
            "test_reps_per_session": 3,  # 12 repetitions
            "targets_per_session": 2,
            "image_size": 32,
            "n_latents": 4,
            "sfreq": 500.0,
        },
    },
    "meg": {
        "format": "things_meg1",
        "source": "simulated",
        "subjects": [1],
        "simulation": {
            "seed": 7,
            "n_sessions": 6,  # 6 repetitions
            "runs_per_session": 1,
            "n_train_concepts": 2,
            "images_per_concept": 4,
            "n_test_images": 18,
            "catch_per_run": 0,
            "image_size": 32,
            "n_latents": 4,
            "sfreq": 400.0,
        },
    },
}


@pytest.fixture(scope="module", params=sorted(STUDIES))
def study(request, tmp_path_factory):
    """(modality, prepared test trials [image, rep, T], truth file, store, raw truth file)."""
    modality = request.param
    cfg = STUDIES[modality]
    raw = simulate_study(cfg, tmp_path_factory.mktemp(modality))
    store = raw / "sub-01.zarr"
    sim = cfg["simulation"]
    if modality == "meg":
        meg.prepare_subject(
            raw, 1, store, meg_params(None), n_sessions=sim["n_sessions"], runs_per_session=1
        )
    else:
        eeg.prepare_subject(raw, 1, store, eeg_params(None), n_sessions=sim["n_sessions"])
    truth = raw / "prepared_truth.npz"
    simulate_prepared_truth(cfg["format"], sim, modality, 1, raw, None, truth, 32)
    x = PreparedResponses(store).read("test")
    return modality, x.reshape(*x.shape[:2], -1), truth, store, truth_path(raw, cfg["format"], 1)


def test_noise_variance_equals_the_pipelines(study):
    _, trials, truth, store, _ = study
    measured = np.nanmean(summarize_test(trials).within_var, axis=0)
    true = aligned_truth(truth, store, ("noise_var",))["noise_var"].ravel()
    # 30 × 11 (EEG) or 18 × 5 (MEG) degrees of freedom per target: a few % of sampling error
    ratio = np.median(measured / true)
    assert 0.95 < ratio < 1.05, ratio


def test_estimated_ceiling_agrees_within_sampling_error(study):
    modality, trials, truth, store, raw_truth = study
    estimate = noise_ceiling(summarize_test(trials))[1]
    keys = ("noise_ceiling", "resampled_difference", "resampled_true")
    aligned = aligned_truth(truth, store, keys)
    true = aligned["noise_ceiling"].ravel()
    signal = true > 20
    assert signal.sum() > 0.1 * true.size
    observed = np.median(estimate[signal] - true[signal])
    # each pseudo-study over the targets its own truth (the trials it did not draw) calls signal
    draws = len(aligned["resampled_difference"])
    by_chance = np.array(
        [
            np.median(d[t > 20])
            for d, t in zip(
                aligned["resampled_difference"].reshape(draws, -1),
                aligned["resampled_true"].reshape(draws, -1),
                strict=True,
            )
        ]
    )
    spread = by_chance.max() - by_chance.min()
    assert by_chance.min() - spread <= observed <= by_chance.max() + spread, (
        observed,
        by_chance,
    )

    # the analytic ceiling of the raw trials is not the ceiling of the prepared data
    model, arrays = SubjectTruth.load(raw_truth)
    names = list(model.channels)
    channels = [str(c) for c in PreparedResponses(store).attrs["channels"]]
    analytic = arrays["noise_ceiling"][[names.index(c) for c in channels]].ravel()
    # by more than 3 × the width of the chance range (5-95 %, as `demo-accuracy` reports it; the
    # full range of the draws widens with their number)
    width = float(np.diff(np.percentile(by_chance, [5, 95]))[0])
    assert abs(np.median(analytic[signal] - true[signal])) > 3 * width + abs(observed), (
        modality,
        width,
        observed,
    )
