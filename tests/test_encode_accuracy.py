"""Accuracy on a direct problem: simulator truth linear in alexnet_untrained features.

Images are drawn with the simulator, features extracted in memory, responses made from a
:class:`SubjectTruth` on the top PCs of those features plus noise of known variance (as the demo
does), then the real encoding and evaluation code recovers them.
"""

from __future__ import annotations

import numpy as np
import pytest
from encoding_data import stimuli_table, write_prepared

from bergforge.datasets.sensors import meg_sensor_names, meg_sensor_positions
from bergforge.evaluation.evaluate import evaluate_subject
from bergforge.features.backbones import extract_in_memory
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.models.linear.fit import EncodingOptions, fit_model
from bergforge.models.linear.matrix import ArrayFeatures
from bergforge.models.linear.splits import SPLITS
from bergforge.models.registry import get_kind
from bergforge.preprocess.responses import PreparedResponses
from bergforge.simulate.images import draw_image, make_concepts, save_jpeg
from bergforge.simulate.truth import SubjectTruth

N_TRAIN, N_TEST, N_REPS = 200, 40, 8


def top_components(features: np.ndarray, n: int) -> np.ndarray:
    """Unit-variance scores of the top ``n`` PCs of the standardised features (via the Gram matrix).

    The same latents as ``bergforge.simulate.truth.image_latents`` up to sign, much faster here.
    """
    sd = features.std(axis=0)
    x = (features[:, sd > 0] - features[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    _, vecs = np.linalg.eigh((x @ x.T).astype(np.float64))
    scores = vecs[:, ::-1][:, :n]
    return scores / scores.std(axis=0)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("accuracy")
    concepts = make_concepts(40, seed=11)
    files = []
    for i in range(N_TRAIN + N_TEST):
        path = root / "images" / f"{i:04d}.jpg"
        save_jpeg(draw_image(concepts[i % len(concepts)], 11, i, 64), path)
        files.append(path)
    features = extract_in_memory("alexnet_untrained", files)
    latents = top_components(features, 6)
    rng = np.random.default_rng(5)
    names = meg_sensor_names()[:30]
    truth = SubjectTruth.draw(rng, names, meg_sensor_positions(names), 6, 1.0, 1.0, (0.08, 0.3))
    times = np.arange(-0.1, 0.5, 0.02)
    true = truth.responses(latents, times)
    sd = truth.noise_sd[None, None, :, None]
    train = true[:N_TRAIN, None] + sd * rng.standard_normal((N_TRAIN, 1, *true.shape[1:]))
    test = true[N_TRAIN:, None] + sd * rng.standard_normal((N_TEST, N_REPS, *true.shape[1:]))
    _, nc_true = truth.analytic_noise_ceiling(true[N_TRAIN:], N_REPS)
    path = write_prepared(root / "sub-01.zarr", train, test, "meg", 1)
    return root, path, features, nc_true


@pytest.mark.parametrize(("regression", "splits"), [("ols", SPLITS[:2]), ("ridge_cv", SPLITS[:1])])
def test_models_reach_most_of_the_noise_ceiling(study, regression, splits):
    root, path, features, nc_true = study
    options = EncodingOptions.from_config(
        {"n_components": 10, "regression": regression, "alphas": [1, 10, 100, 1000, 1e4]}
    )
    stimuli = stimuli_table(N_TRAIN, N_TEST)
    dirs = {s: root / regression / s for s in splits}
    for split, folder in dirs.items():
        fit_model(PreparedResponses(path), stimuli, ArrayFeatures(features), split, options, folder)
        seal_model_folder(folder)  # as the fit job does after the kind's fit
    evaluate_subject(
        PreparedResponses(path),
        stimuli,
        ArrayFeatures(features),
        dirs,
        root / regression / "ev",
        get_kind("linear"),
    )
    with np.load(root / regression / "ev" / "evaluation.npz") as ev:
        nc, pnc = ev["noise_ceiling"], ev["percent_noise_ceiling"]
    signal = nc_true > 20  # targets with a real signal
    assert signal.sum() > 100
    # the estimated ceiling tracks the analytic one
    assert np.median(np.abs(nc[signal] - nc_true[signal])) < 6
    median_all = float(np.nanmedian(pnc[0][signal]))
    print(f"{regression}: median % of noise ceiling (split all) = {median_all:.1f}")
    assert median_all >= 80
    if len(splits) > 1:  # a quarter of the training images still does well
        assert np.nanmedian(pnc[1][signal]) > 40
