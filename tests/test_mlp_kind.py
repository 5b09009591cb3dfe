"""The ``mlp`` kind on tiny data: deterministic, resumable, early-stopped, better than ridge on a
nonlinear function, read back as it was written, and one clear error for each bad input."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from device_check import DeviceRecorder
from encoding_data import linear_problem, stimuli_table, write_prepared
from sklearn.linear_model import RidgeCV

from bergforge.errors import ConfigError, DataError
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.models.kind import FitRequest
from bergforge.models.linear.matrix import ArrayFeatures
from bergforge.models.mlp import train as mlp_train
from bergforge.models.mlp.data import averaged_targets
from bergforge.models.mlp.job import CHECKPOINT, fit_mlp, fit_subject
from bergforge.models.mlp.network import build
from bergforge.models.mlp.settings import MlpConfig
from bergforge.models.registry import get_kind
from bergforge.preprocess.responses import PreparedResponses

N_TRAIN, N_TEST = 64, 12
SMALL = {"n_components": 6, "hidden": 16, "max_epochs": 8, "patience": 8, "batch_size": 16}


class TrainingKilledError(Exception):
    """What the test hook raises to stop training as a killed job would stop."""


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    features, train, test = linear_problem(N_TRAIN, N_TEST, seed=3)
    path = write_prepared(tmp_path_factory.mktemp("mlp") / "sub-01.zarr", train, test)
    return path, features, train, test


def fit(problem, folder, settings=None, hook=None):
    path, features, _, _ = problem
    cfg = MlpConfig.from_settings({**SMALL, **(settings or {})}, {"device": "cpu"})
    model = fit_subject(
        PreparedResponses(path),
        stimuli_table(N_TRAIN, N_TEST),
        ArrayFeatures(features),
        cfg,
        1,
        folder,
        on_epoch_end=hook,
    )
    seal_model_folder(folder)  # as the fit job does after the kind's fit
    return model


@pytest.fixture(scope="module")
def uninterrupted(problem, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "split-all"
    fit(problem, folder)
    return folder


def test_two_cpu_runs_write_byte_identical_files(problem, uninterrupted, tmp_path):
    fit(problem, tmp_path / "again")
    for name in ("weights.safetensors", "model.json"):
        assert (tmp_path / "again" / name).read_bytes() == (uninterrupted / name).read_bytes()
    model = json.loads((uninterrupted / "model.json").read_text())
    assert len(model["history"]) == model["epochs"] == 8
    assert len(model["validation_image_ids"]) == round(0.1 * N_TRAIN)
    assert not (uninterrupted / CHECKPOINT).exists()


def test_a_killed_training_resumes_to_the_uninterrupted_weights(
    problem, uninterrupted, tmp_path, caplog
):
    folder = tmp_path / "split-all"

    def stop_after_three(epoch, loss, model):
        if epoch == 3:
            raise TrainingKilledError

    with pytest.raises(TrainingKilledError):
        fit(problem, folder, hook=stop_after_three)
    assert (folder / CHECKPOINT).is_file() and not (folder / "model.json").exists()
    with caplog.at_level(logging.INFO, logger="bergforge.models.mlp.train"):
        fit(problem, folder)
    assert "after epoch 3" in caplog.text and "epoch 4/8" in caplog.text
    assert "epoch 3/8" not in caplog.text.split("resumed")[1]
    assert (folder / "weights.safetensors").read_bytes() == (
        uninterrupted / "weights.safetensors"
    ).read_bytes()
    assert not (folder / CHECKPOINT).exists()

    # a checkpoint of other settings is set aside: the run starts afresh
    with pytest.raises(TrainingKilledError):
        fit(problem, tmp_path / "other", {"lr": 0.01}, hook=stop_after_three)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bergforge.models.mlp.train"):
        fit(problem, tmp_path / "other")
    assert "other settings or data" in caplog.text and "resumed" not in caplog.text
    assert (tmp_path / "other/weights.safetensors").read_bytes() == (
        uninterrupted / "weights.safetensors"
    ).read_bytes()


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    """Few noisy images and a wide network overfit: the validation loss turns up, training stops
    `patience` epochs after its minimum, and the weights of that epoch are the ones kept."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = (x[:, :1] + 2.0 * rng.standard_normal((40, 3))).astype(np.float32)
    cfg = MlpConfig(hidden=128, dropout=0.0, lr=0.02, weight_decay=0.0, batch_size=8, patience=4)
    seen = {}

    def keep(epoch, loss, model):
        seen[epoch] = {k: v.detach().clone().numpy() for k, v in model.state_dict().items()}

    trained = mlp_train.train_network(
        x,
        y,
        np.arange(30),
        np.arange(30, 40),
        cfg,
        torch.device("cpu"),
        tmp_path / CHECKPOINT,
        "data",
        keep,
    )
    losses = [h["validation_loss"] for h in trained.history]
    assert trained.best_epoch == int(np.argmin(losses)) + 1 < trained.epochs < cfg.max_epochs
    assert trained.epochs == trained.best_epoch + cfg.patience
    assert trained.best_validation_loss == min(losses)
    for name, value in trained.weights.items():
        np.testing.assert_array_equal(value, seen[trained.best_epoch][name])
    # the validation loss is the mean squared error of the held-out rows, computed here directly
    net = build(5, 3, 128, 1, 0.0, cfg.seed)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in trained.weights.items()})
    with torch.no_grad():
        direct = float(
            ((net.eval()(torch.from_numpy(x[30:])) - torch.from_numpy(y[30:])) ** 2).mean()
        )
    assert direct == pytest.approx(trained.best_validation_loss, rel=1e-5)


def test_a_nonlinear_function_is_fitted_better_than_by_ridge(tmp_path, one_torch_thread):
    """Six targets nonlinear in four inputs (raw features, input = features): the MLP explains
    most of their test variance, scikit-learn's RidgeCV on the same inputs almost none."""
    n_train, n_test = 400, 100
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_train + n_test, 4))
    f = np.stack(
        [
            np.sin(2 * x[:, 0]),
            x[:, 1] * x[:, 2],
            np.abs(x[:, 3]),
            np.tanh(2 * x[:, 0] * x[:, 1]),
            np.cos(x[:, 2] + x[:, 3]),
            x[:, 0] ** 2 - 1,
        ],
        axis=1,
    )
    train = f[:n_train].reshape(-1, 1, 2, 3) + 0.1 * rng.standard_normal((n_train, 1, 2, 3))
    test = f[n_train:].reshape(-1, 1, 2, 3).repeat(2, axis=1)
    path = write_prepared(tmp_path / "sub-01.zarr", train, test)
    settings = {"input": "features", "hidden": 64, "depth": 2, "dropout": 0.0, "lr": 3e-3}
    settings |= {"weight_decay": 1e-4, "batch_size": 32, "max_epochs": 100, "patience": 15}
    cfg = MlpConfig.from_settings(settings, {"device": "cpu"})
    features = ArrayFeatures(x.astype(np.float32))
    table = stimuli_table(n_train, n_test)
    fit_subject(PreparedResponses(path), table, features, cfg, 1, tmp_path / "m")
    seal_model_folder(tmp_path / "m")
    rows = np.arange(n_train, n_train + n_test)
    mlp = get_kind("mlp").predict_features([tmp_path / "m"], features, rows)[0]
    mean, sd = x[:n_train].mean(axis=0), x[:n_train].std(axis=0)
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(
        (x[:n_train] - mean) / sd, train.reshape(n_train, -1)
    )
    reference = ridge.predict((x[n_train:] - mean) / sd)
    truth = f[n_train:]

    def r2(pred):
        return 1 - ((pred - truth) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)

    assert r2(mlp).min() > 0.8 and r2(reference).max() < 0.3
    assert r2(mlp).mean() > r2(reference).mean() + 0.6


def test_the_exported_tensors_predict_as_the_model_folder(problem, uninterrupted):
    _, features, _, _ = problem
    kind = get_kind("mlp")
    rows = np.arange(N_TRAIN, N_TRAIN + N_TEST)
    predicted = kind.predict_features([uninterrupted], ArrayFeatures(features), rows)[0]
    tensors, config = kind.tensors(uninterrupted)
    assert config == {
        "input": "pca",
        "activation": "gelu",
        "n_inputs": 6,
        "n_targets": 24,
        "hidden": 16,
        "depth": 1,
    }
    dense = kind.from_tensors(tensors, config).predict(features[rows])
    np.testing.assert_array_equal(dense, predicted)
    # an independent forward pass: scaler, PCA, standardised input, GELU layer, output
    from math import erf

    t = tensors
    scores = ((features[rows] - t["scaler.mean_"]) / t["scaler.scale_"]) @ t[
        "pca.components_"
    ].T.astype(np.float64)
    h = (scores - t["input.mean"]) / t["input.scale"] @ t["mlp.hidden.0.weight"].T.astype(
        np.float64
    ) + t["mlp.hidden.0.bias"]
    h = h * 0.5 * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    out = h @ t["mlp.out.weight"].T.astype(np.float64) + t["mlp.out.bias"]
    np.testing.assert_allclose(
        out * t["target.scale"] + t["target.mean"], predicted, rtol=1e-4, atol=1e-5
    )


def test_the_readers_verify_the_model_folder(problem, uninterrupted, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(uninterrupted, folder)
    data = bytearray((folder / "weights.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "weights.safetensors").write_bytes(bytes(data))
    kind = get_kind("mlp")
    with pytest.raises(DataError, match="weights.safetensors does not match"):
        kind.tensors(folder)
    with pytest.raises(DataError, match="weights.safetensors does not match"):
        kind.predict_features([folder], ArrayFeatures(problem[1]), np.arange(3))


def test_bad_inputs_are_one_clear_error_each(problem, tmp_path, monkeypatch):
    path, features, train, test = problem
    never = train.copy()
    never[5] = np.nan  # image 5: no repetition at all
    with pytest.raises(DataError, match=r"training image 5 \(train_5\) has no finite repetition"):
        fit(
            (write_prepared(tmp_path / "a.zarr", never, test), features, train, test),
            tmp_path / "a",
        )
    inf = train.copy()
    inf[2, 0, 1, 1] = np.inf
    with pytest.raises(DataError, match=r"contains infinite values \(image 2, target 7\)"):
        fit((write_prepared(tmp_path / "b.zarr", inf, test), features, train, test), tmp_path / "b")
    nan = train.copy()
    nan[7, 0, 0, 3] = np.nan  # one NaN inside a repetition that holds data
    with pytest.raises(DataError, match="image 7 has NaN responses"):
        fit((write_prepared(tmp_path / "c.zarr", nan, test), features, train, test), tmp_path / "c")
    with pytest.raises(DataError, match="n_components = 64 needs more training images"):
        fit(problem, tmp_path / "d", {"n_components": 64})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['widht'\]"):
        MlpConfig.from_settings({"widht": 3})
    with pytest.raises(ConfigError, match="dropout"):
        MlpConfig(dropout=1.0)
    for folder in "abcd":
        assert not (tmp_path / folder / "model.json").exists()
    request = FitRequest("d", "meg", (1,), "single-1", (path,), tmp_path / "s.tsv")
    with pytest.raises(ConfigError, match="fits split 'all' only"):
        fit_mlp(request, tmp_path / "e")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device is 'cuda' but torch sees no CUDA device"):
        mlp_train.resolve_device("cuda")
    cuda = FitRequest(
        "d", "meg", (1,), "all", (path,), tmp_path / "s.tsv", runtime={"device": "cuda"}
    )
    with pytest.raises(ConfigError, match="^models.mlp.device is 'cuda' but torch sees no CUDA"):
        fit_mlp(cuda, tmp_path / "f")  # before any input is opened
    assert not (tmp_path / "f").exists()


class StubResponses:
    """What :func:`averaged_targets` reads of a prepared store, with given repetition means."""

    path = "sub-01.zarr"

    def __init__(self, means: np.ndarray) -> None:
        self.means, self.n_targets = means, means.shape[1]

    def batches(self, split, images, repetitions):
        yield np.arange(len(images)), self.means


def test_a_non_finite_averaged_target_is_one_error():
    """The averages a store's reader hands over are checked again: a NaN or infinite mean, and a
    finite float64 mean beyond float32's range, each name the image and the target."""
    images, reps = np.array([10, 11, 12]), np.array([0, 1])
    good = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.testing.assert_array_equal(averaged_targets(StubResponses(good), images, reps), good)
    for value, message in (
        (np.nan, "image 11 is not finite at target 2; expected finite"),
        (-np.inf, "image 11 is not finite at target 2; expected finite"),
        (1e39, "image 11 does not fit float32 at target 2; expected finite values"),
    ):
        bad = good.copy()
        bad[1, 2] = value
        with pytest.raises(
            DataError, match=f"^sub-01.zarr: the averaged training response of {message}"
        ):
            averaged_targets(StubResponses(bad), images, reps)


def test_the_device_is_chosen_and_the_epoch_loop_never_leaves_it(monkeypatch):
    """`auto` picks cuda when torch sees one. The epoch and validation loops run on PyTorch's
    `meta` device, which has no data: any read-back to the host (`.item()`, `.cpu()`, NumPy) or a
    CPU tensor in an operation would raise there, so none is in the loop."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert mlp_train.resolve_device("auto").type == "cuda"
    assert mlp_train.resolve_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert mlp_train.resolve_device("auto").type == "cpu"

    meta = torch.device("meta")
    model = build(6, 4, 8, 2, 0.2, 0).to(meta)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    x, y = torch.empty(20, 6, device=meta), torch.empty(20, 4, device=meta)
    order = mlp_train.epoch_order(torch.arange(16, device=meta), 0, 0)
    assert order.device == meta and order.shape == (16,)
    loss = mlp_train.run_epoch(model, optimizer, x, y, order, 5, None)
    assert loss.device == meta and loss.shape == ()
    val = mlp_train.validation_loss(model, x, y, torch.arange(16, 20, device=meta))
    assert val.device == meta
    assert all(p.device == meta for p in model.parameters())
    assert all(v.device == meta for s in optimizer.state.values() for v in s.values() if v.ndim)


def test_train_network_puts_data_and_network_on_the_device_and_makes_nothing_off_it(
    monkeypatch, tmp_path
):
    """``train_network`` given host arrays and the `meta` device (the stand-in for cuda here):
    its network, AdamW's moments, each epoch's dropout generator and every tensor two training
    epochs and a validation pass make are on that device; only AdamW's step counters stay on the
    host, as PyTorch keeps them. (`meta` has no random generators, so the epochs get none here.)"""
    meta = torch.device("meta")
    ran, generators = {}, []

    def two_epochs(fresh, train_epoch, validate, cfg, device, checkpoint, data_id, hook=None):
        model, optimizer = fresh()
        with DeviceRecorder() as made:
            losses = [train_epoch(model, optimizer, 0), train_epoch(model, optimizer, 1)]
            losses.append(validate(model))
        ran.update(model=model, optimizer=optimizer, losses=losses, made=made, device=device)

    assert mlp_train.dropout_generator(1, 2, torch.device("cpu")).device.type == "cpu"
    monkeypatch.setattr(mlp_train, "train_loop", two_epochs)
    monkeypatch.setattr(
        mlp_train, "dropout_generator", lambda seed, epoch, device: generators.append(device)
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 6), dtype=np.float32)
    y = rng.standard_normal((20, 4), dtype=np.float32)
    cfg = MlpConfig(hidden=8, batch_size=5)
    fit, val = np.arange(16), np.arange(16, 20)
    mlp_train.train_network(x, y, fit, val, cfg, meta, tmp_path / CHECKPOINT, "data")
    assert ran["device"] == meta and generators == [meta, meta]
    assert all(p.device == meta for p in ran["model"].parameters())
    assert all(loss.device == meta and loss.shape == () for loss in ran["losses"])
    state = ran["optimizer"].state.values()
    moments = [v for s in state for k, v in s.items() if k != "step"]
    assert len(moments) == 8 and all(v.device == meta for v in moments)
    assert len(ran["made"].made) > 100 and ran["made"].off(meta, ran["optimizer"]) == []
    with DeviceRecorder() as made:  # the check sees a host tensor made in the loop
        torch.zeros(()) + torch.ones((), device=meta)
    assert made.off(meta, ran["optimizer"]) == [("zeros", "cpu")]


@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")
def test_a_resumed_training_puts_its_checkpoint_on_the_device(monkeypatch, tmp_path):
    """A checkpoint written on the host and resumed for a network on the `meta` device: the kept
    best weights and AdamW's moments are moved to that device."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 6), dtype=np.float32)
    y = rng.standard_normal((20, 4), dtype=np.float32)
    cfg = MlpConfig(hidden=8, batch_size=5, max_epochs=2, patience=2)
    fit, val, checkpoint = np.arange(16), np.arange(16, 20), tmp_path / CHECKPOINT
    mlp_train.train_network(x, y, fit, val, cfg, torch.device("cpu"), checkpoint, "data")
    real, resumed = mlp_train.load_checkpoint, {}

    class ResumedError(Exception):
        pass

    def load(path, identity, model, optimizer, device):
        resumed.update(out=real(path, identity, model, optimizer, device), optimizer=optimizer)
        raise ResumedError  # the loop would read the meta tensors back next

    monkeypatch.setattr(mlp_train, "load_checkpoint", load)
    with pytest.raises(ResumedError):
        mlp_train.train_network(x, y, fit, val, cfg, torch.device("meta"), checkpoint, "data")
    state, best = resumed["out"]
    assert state["epoch"] == 2 and len(best) == 4
    assert all(v.device.type == "meta" for v in best.values())
    moments = [v for s in resumed["optimizer"].state.values() for k, v in s.items() if k != "step"]
    assert len(moments) == 8 and all(v.device.type == "meta" for v in moments)


def test_fit_mlp_is_sized_from_its_inputs():
    """Targets in memory, the network's parameters (counted here on the network itself) and
    6 × parameters MFLOP per image and epoch; the table's real-size rows are the MEG job's."""
    from bergforge.workflow.resources import COEFFICIENTS, MB, mlp_size

    settings = {"n_components": 10, "hidden": 32, "depth": 2, "max_epochs": 7}
    params = sum(p.numel() for p in build(10, 50, 32, 2, 0.0, 0).parameters())
    cpu, gpu = (mlp_size(100, 50, 120, 300, 4, settings, d) for d in ("cpu", "cuda"))
    assert cpu.units == gpu.units == 100 * 50 * 4 / MB
    assert cpu.work == pytest.approx(7 * 100 * 6 * params / 1e6)
    assert cpu.fixed_mb - gpu.fixed_mb == pytest.approx(params * 4 / MB)
    raw = mlp_size(100, 50, 120, 300, 4, {**settings, "input": "features"}, "cpu")
    assert raw.work > cpu.work  # 300 raw inputs instead of 10 components
    for device in ("cpu", "cuda"):
        row = COEFFICIENTS[f"fit_mlp/{device}"]
        real = mlp_size(22248, 76151, 22448, 460800, 4, {}, device)
        assert (real.units, real.work, real.fixed_mb) == pytest.approx(
            (row.real.units, row.real.work, row.real.fixed_mb)
        )
        assert "2026-12-05" in row.source  # measured by the scale harness (fit_mlp[meg])


def test_the_device_is_a_runtime_setting_never_a_rule_param():
    from types import SimpleNamespace

    from bergforge.config import gpu_request
    from bergforge.workflow.models import evaluation_gpu, fit_params, kind_runtime

    config = {
        "datasets": {
            "d": {
                "format": "things_eeg2",
                "source": "simulated",
                "subjects": [1],
                "models": {"mlp": {"hidden": 8, "device": "cpu"}},
            }
        },
        "backbones": {"alexnet_untrained": {}},
        "models": {"mlp": {"device": "cuda", "lr": 0.01}},
    }
    wildcards = SimpleNamespace(dataset="d", model="mlp_alexnet_untrained", subject="01")
    settings = fit_params(config, get_kind("mlp"))["settings"](wildcards)
    assert settings == {"hidden": 8, "lr": 0.01}  # what reruns a fit: no device
    assert kind_runtime(config, "d", "mlp") == {"device": "cpu"}  # the dataset's own wins
    assert gpu_request(config, "models/mlp/device") == 1
    assert evaluation_gpu(config)(wildcards) == 0  # predictions from features run on the CPU
