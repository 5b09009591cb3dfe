"""The free-viewing model kinds (bergforge.models.fixations): ``ridge_cv`` against scikit-learn's
RidgeCV, the ``shared`` kind's mean adapter against the trained network run by hand, the saved
folder (round trip, damage), and one clear error per bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from sklearn.linear_model import RidgeCV

from bergforge.errors import ConfigError, DataError
from bergforge.models.fixations.folder import load_fixation_model, save_fixation_model
from bergforge.models.fixations.model import fit_fixation_model
from bergforge.models.fixations.settings import DEFAULT_ALPHAS, FIXATION_KINDS
from bergforge.models.shared.network import SharedNet

#: a few epochs of a small network: fast, and enough to train every tensor
TINY = {"hidden": 8, "depth": 2, "max_epochs": 4, "patience": 3, "batch_size": 32, "seed": 3}


def study(
    n_subjects: int = 3, n: int = 60, p: int = 12, t: int = 6, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """Per subject features and responses (a common nonlinear map, subject-specific mixing,
    target-specific noise), plus the features and responses of one more, unseen subject."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((p, 4)) / np.sqrt(p)
    common = rng.standard_normal((4, t))
    noise = np.geomspace(0.05, 5.0, t)  # targets from clean to mostly noise: penalties differ

    def subject(k: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.standard_normal((rows, p)) * rng.uniform(0.5, 3.0, p) + rng.uniform(-2, 2, p)
        mix = common + 0.3 * rng.standard_normal((4, t))
        y = np.tanh(x @ a) @ mix + noise * rng.standard_normal((rows, t)) + k
        return x.astype(np.float32), (1e-12 * y).astype(np.float32)  # MEG-sized numbers

    parts = [subject(k, n + 7 * k) for k in range(n_subjects + 1)]
    xs, ys = [p_[0] for p_ in parts[:-1]], [p_[1] for p_ in parts[:-1]]
    return xs, ys, parts[-1][0], parts[-1][1]


@pytest.mark.parametrize(
    ("p", "block"),
    [(12, 512), (250, 512), (12, 4)],  # more rows than features, fewer; targets in 2 blocks
)
def test_ridge_cv_is_sklearns_ridgecv_on_the_standardised_pool(p, block, monkeypatch):
    from bergforge.models.fixations import ridge

    monkeypatch.setattr(ridge, "TARGET_BLOCK", block)
    xs, ys, x_new, _ = study(p=p)
    model = fit_fixation_model("ridge_cv", xs, ys, [1, 2, 3], {})
    x, y = np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)
    x_mean, x_sd = x.mean(axis=0), x.std(axis=0)
    y_mean, y_sd = y.mean(axis=0), y.std(axis=0)
    reference = RidgeCV(alphas=np.logspace(-1, 5, 13), alpha_per_target=True)
    reference.fit((x - x_mean) / x_sd, (y - y_mean) / y_sd)
    tensors = model.tensors()
    np.testing.assert_array_equal(tensors["ridge.alpha"], reference.alpha_)
    assert len(set(reference.alpha_)) > 1  # the targets chose different penalties
    np.testing.assert_allclose(tensors["ridge.coef"], reference.coef_.T, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(tensors["ridge.intercept"], reference.intercept_, atol=1e-9)
    expected = reference.predict((x_new - x_mean) / x_sd) * y_sd + y_mean
    predicted = model.predict_unseen(x_new)
    assert predicted.dtype == np.float32 and predicted.shape == expected.shape
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_ridge_cv_takes_its_penalties_from_the_settings():
    xs, ys, _, _ = study()
    model = fit_fixation_model("ridge_cv", xs, ys, [1, 2, 3], {"alphas": [1e7, 1e8]})
    assert set(model.tensors()["ridge.alpha"]) <= {1e7, 1e8}
    assert model.config()["settings"]["alphas"] == [1e7, 1e8]
    assert fit_fixation_model("ridge_cv", xs, ys, [1, 2, 3], {}).config()["settings"][
        "alphas"
    ] == list(DEFAULT_ALPHAS)


def gelu(z: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return z * 0.5 * (1.0 + erf(z / np.sqrt(2.0)))


def test_mean_adapter_is_the_average_adapter_on_the_trunk(tmp_path):
    """The unseen subject's prediction from the saved tensors by hand: the trunk in NumPy and in
    the torch network itself, each subject's adapter applied, averaged, then the averaged
    target statistics."""
    xs, ys, x_new, _ = study()
    subjects = [4, 7, 9]
    model = fit_fixation_model("shared", xs, ys, subjects, TINY, device="cpu")
    save_fixation_model(model, tmp_path / "m")
    t = load_file(str(tmp_path / "m" / "weights.safetensors"))
    h = (x_new.astype(np.float64) - t["input.mean"]) / t["input.scale"]
    for i in range(2):
        h = gelu(h @ t[f"trunk.hidden.{i}.weight"].T + t[f"trunk.hidden.{i}.bias"])
    net = SharedNet(x_new.shape[1], [ys[0].shape[1]] * 3, 8, 2, 0.0).eval()
    state = {k.replace("trunk.", "", 1): torch.from_numpy(v) for k, v in t.items() if "hidden" in k}
    for j, s in enumerate(subjects):
        state[f"adapters.{j}.weight"] = torch.from_numpy(t[f"adapter.sub-{s:02d}.weight"])
        state[f"adapters.{j}.bias"] = torch.from_numpy(t[f"adapter.sub-{s:02d}.bias"])
    net.load_state_dict(state)
    with torch.no_grad():
        z = torch.from_numpy((x_new - t["input.mean"]) / t["input.scale"])
        np.testing.assert_allclose(net.trunk(z).numpy(), h, rtol=1e-4, atol=1e-5)
        outputs = np.mean([net(z, j).numpy() for j in range(3)], axis=0)
    scale = np.mean([t[f"target.sub-{s:02d}.scale"] for s in subjects], axis=0)
    mean = np.mean([t[f"target.sub-{s:02d}.mean"] for s in subjects], axis=0)
    expected = outputs * scale + mean
    predicted = model.predict_unseen(x_new)
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert model.config()["training"]["device"] == "cpu"
    assert np.ptp(predicted, axis=0).min() > 0  # the trunk was trained, not constant


def test_shared_predicts_an_unseen_subject_from_its_features():
    xs, ys, x_new, y_new = study(n=200, seed=1)
    settings = {"hidden": 16, "max_epochs": 60, "patience": 10, "dropout": 0.0, "lr": 3e-3}
    model = fit_fixation_model("shared", xs, ys, [1, 2, 3], settings, device="cpu")
    predicted = model.predict_unseen(x_new)
    r = [np.corrcoef(predicted[:, k], y_new[:, k])[0, 1] for k in range(3)]  # the clean targets
    assert min(r) > 0.6


@pytest.mark.parametrize("kind", FIXATION_KINDS)
def test_saved_model_predicts_the_same(tmp_path, kind):
    xs, ys, x_new, _ = study()
    model = fit_fixation_model(kind, xs, ys, [1, 2, 3], TINY if kind == "shared" else {}, "cpu")
    save_fixation_model(model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "checksums.json",
        "model.json",
        "weights.safetensors",
    ]
    loaded = load_fixation_model(tmp_path / "m")
    assert loaded.kind == kind and loaded.subjects == [1, 2, 3]
    assert json.dumps(loaded.config(), sort_keys=True) == json.dumps(model.config(), sort_keys=True)
    np.testing.assert_array_equal(loaded.predict_unseen(x_new), model.predict_unseen(x_new))
    assert not list(tmp_path.glob(".*"))  # no temporaries left beside the folder


@pytest.mark.parametrize("name", ["weights.safetensors", "model.json"])
def test_a_damaged_saved_file_is_a_data_error(tmp_path, name):
    xs, ys, _, _ = study()
    save_fixation_model(fit_fixation_model("ridge_cv", xs, ys, [1, 2, 3], {}), tmp_path / "m")
    path = tmp_path / "m" / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        load_fixation_model(tmp_path / "m")


def test_a_folder_without_its_files_is_a_data_error(tmp_path):
    xs, ys, _, _ = study()
    save_fixation_model(fit_fixation_model("ridge_cv", xs, ys, [1, 2, 3], {}), tmp_path / "m")
    (tmp_path / "m" / "weights.safetensors").unlink()
    with pytest.raises(DataError, match="missing"):
        load_fixation_model(tmp_path / "m")
    with pytest.raises(DataError, match="not found"):
        load_fixation_model(tmp_path / "absent")


def test_bad_inputs_are_one_clear_error_each():
    xs, ys, x_new, _ = study()
    subjects = [1, 2, 3]
    with pytest.raises(DataError, match="subject 2: 67 feature rows but 66 response rows"):
        fit_fixation_model("ridge_cv", xs, [ys[0], ys[1][:-1], ys[2]], subjects, {})
    with pytest.raises(DataError, match="subject 3: 5 targets; subject 1 has 6"):
        fit_fixation_model("ridge_cv", xs, [ys[0], ys[1], ys[2][:, :5]], subjects, {})
    with pytest.raises(DataError, match="subject 2: 11 features; subject 1 has 12"):
        fit_fixation_model("shared", [xs[0], xs[1][:, :11], xs[2]], ys, subjects, TINY)
    with pytest.raises(ConfigError, match="at least 2 distinct training subjects"):
        fit_fixation_model("shared", xs[:1], ys[:1], [1], TINY)
    with pytest.raises(ConfigError, match="at least 2 distinct training subjects"):
        fit_fixation_model("ridge_cv", xs[:2], ys[:2], [1, 1], {})
    with pytest.raises(DataError, match="one of each per subject"):
        fit_fixation_model("ridge_cv", xs, ys[:2], subjects, {})
    with pytest.raises(ConfigError, match="kind 'lasso'"):
        fit_fixation_model("lasso", xs, ys, subjects, {})
    with pytest.raises(ConfigError, match="unknown key"):
        fit_fixation_model("shared", xs, ys, subjects, {"hiden": 8})
    with pytest.raises(ConfigError, match="not settings of this kind"):
        fit_fixation_model("shared", xs, ys, subjects, {"input": "pca"})
    with pytest.raises(ConfigError, match="alphas"):
        fit_fixation_model("ridge_cv", xs, ys, subjects, {"alphas": [1.0, -1.0]})
    bad = xs[0].copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="subject 1: features or responses hold NaN"):
        fit_fixation_model("ridge_cv", [bad, xs[1], xs[2]], ys, subjects, {})
    model = fit_fixation_model("ridge_cv", xs, ys, subjects, {})
    with pytest.raises(DataError, match=r"expected \(n_fixations, 12\)"):
        model.predict_unseen(x_new[:, :11])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_is_a_config_error():
    xs, ys, _, _ = study()
    with pytest.raises(ConfigError, match="device is 'cuda'"):
        fit_fixation_model("shared", xs, ys, [1, 2, 3], TINY, device="cuda")
    with pytest.raises(ConfigError, match="device"):
        fit_fixation_model("shared", xs, ys, [1, 2, 3], TINY, device="tpu")
