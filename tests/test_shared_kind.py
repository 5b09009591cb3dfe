"""The ``shared`` kind on tiny simulated studies (the EEG simulator's truth with ``shared_fraction``):
a subject left out of the training is predicted by the mean adapter only when the subjects share
structure, few-shot fine-tuning on 20 of its images raises that, two CPU fits are byte-identical,
a killed fit resumes to the same weights, each subject's model is an independent forward pass,
targets are matched by channel name, and bad input is one clear error each."""

from __future__ import annotations

import json
import logging
from math import erf
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from device_check import DeviceRecorder
from shared_data import shared_study, with_edited_store

from bergforge.errors import ConfigError, DataError
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.models.kind import FitRequest
from bergforge.models.linear.matrix import ArrayFeatures
from bergforge.models.registry import get_kind
from bergforge.models.shared import train as shared_train
from bergforge.models.shared.job import CHECKPOINT, fit_shared, fit_subjects
from bergforge.models.shared.network import build_shared
from bergforge.models.shared.settings import SharedConfig
from bergforge.models.shared.unseen import (
    few_shot_positions,
    fine_tune,
    mean_adapter,
    predict_unseen,
)
from bergforge.preprocess.responses import PreparedResponses

#: small network; lr and epochs so that the tiny studies converge in about a second
SMALL = {"n_components": 8, "hidden": 32, "batch_size": 32, "lr": 3e-3, "dropout": 0.1}
UNSEEN = {**SMALL, "max_epochs": 40, "patience": 5, "few_shot_k": 20}
QUICK = {**SMALL, "max_epochs": 6, "patience": 6}


class TrainingKilledError(Exception):
    """What the test hook raises to stop training as a killed job would stop."""


@pytest.fixture(scope="module")
def shared08(tmp_path_factory):
    return shared_study(tmp_path_factory.mktemp("shared08"), 0.8)


@pytest.fixture(scope="module")
def shared00(tmp_path_factory):
    return shared_study(tmp_path_factory.mktemp("shared00"), 0.0)


def stores(study, subjects=None):
    return [
        PreparedResponses(p) for s, p in study.stores.items() if subjects is None or s in subjects
    ]


def observed_test(study, subject: int) -> np.ndarray:
    """Repetition-averaged test responses (images × targets), read here from the store."""
    test = np.asarray(PreparedResponses(study.stores[subject]).group["test"][:], np.float64)
    return np.nanmean(test, axis=1).reshape(study.n_test, -1)


def pearson(p: np.ndarray, o: np.ndarray) -> np.ndarray:
    p, o = p - p.mean(0), o - o.mean(0)
    return (p * o).sum(0) / np.sqrt((p**2).sum(0) * (o**2).sum(0))


def unseen(study, tmp_path, settings=None, held_out=1):
    cfg = SharedConfig.from_settings({**UNSEEN, **(settings or {})}, {"device": "cpu"})
    rows = np.arange(study.n_train, study.n_train + study.n_test)
    return predict_unseen(
        stores(study),
        held_out,
        study.stimuli(),
        ArrayFeatures(study.features),
        cfg,
        rows,
        tmp_path / CHECKPOINT,
    )


def test_an_unseen_subject_is_predicted_by_the_mean_adapter_only_with_shared_structure(
    shared08, shared00, tmp_path, one_torch_thread
):
    """Subject 1 left out, the trunk trained on subjects 2-4. With maps 80 % shared the mean of
    their adapters predicts subject 1's test responses (median r over its 160 targets about 0.39);
    with independent maps (the control) it predicts nothing (about 0). Few-shot fine-tuning on 20
    of subject 1's training images raises both (about 0.44 and 0.12)."""
    result = {}
    for name, study in (("shared", shared08), ("independent", shared00)):
        out = unseen(study, tmp_path / name)
        observed = observed_test(study, 1)
        result[name] = [
            float(np.median(pearson(p, observed))) for p in (out.mean_adapter, out.few_shot)
        ]
        assert out.trained_subjects == [2, 3, 4] and out.covered.all()
        assert len(out.few_shot_image_ids) == 20
        assert out.few_shot_alpha in SharedConfig().few_shot_alphas
    mean_shared, few_shared = result["shared"]
    mean_control, few_control = result["independent"]
    assert mean_shared > 0.25, result
    assert abs(mean_control) < 0.1, result
    assert few_shared > mean_shared + 0.02, result
    assert few_control > mean_control + 0.05, result


def test_two_subjects_suffice_for_leave_one_subject_out(shared08, tmp_path):
    """The held-out subject's trunk is trained on the one other subject."""
    cfg = SharedConfig.from_settings({**QUICK, "few_shot_k": 4}, {"device": "cpu"})
    out = predict_unseen(
        stores(shared08, (1, 2)),
        2,
        shared08.stimuli(),
        ArrayFeatures(shared08.features),
        cfg,
        np.arange(shared08.n_train, shared08.n_train + 5),
        tmp_path / CHECKPOINT,
    )
    assert out.trained_subjects == [1] and out.mean_adapter.shape == out.few_shot.shape == (5, 160)


def test_the_few_shot_fit_is_the_ridge_solution_with_its_leave_one_out_choice():
    """ΔW, Δb and the LOO errors against a direct computation: for each α the ridge fit with an
    unpenalised bias refitted k times, each time without one image."""
    rng = np.random.default_rng(0)
    hidden, residual = rng.standard_normal((12, 5)), rng.standard_normal((12, 3))
    alphas = (0.1, 3.0, 100.0)
    dw, db, alpha, errors = fine_tune(hidden, residual, alphas)

    def ridge(h, r, a):
        x = np.hstack([h, np.ones((len(h), 1))])
        penalty = a * np.eye(x.shape[1])
        penalty[-1, -1] = 0.0
        coef = np.linalg.solve(x.T @ x + penalty, x.T @ r)
        return coef[:-1].T, coef[-1]

    direct = {}
    for a in alphas:
        squared = []
        for i in range(12):
            keep = np.arange(12) != i
            w, b = ridge(hidden[keep], residual[keep], a)
            squared.append((residual[i] - (hidden[i] @ w.T + b)) ** 2)
        direct[f"{a:g}"] = float(np.mean(squared))
    assert errors == pytest.approx(direct, rel=1e-9)
    assert alpha == float(min(direct, key=direct.get))
    w, b = ridge(hidden, residual, alpha)
    np.testing.assert_allclose(dw, w, atol=1e-10)
    np.testing.assert_allclose(db, b, atol=1e-10)


def fit(study, folder, settings=None, hook=None, subjects=(1, 2, 3)):
    cfg = SharedConfig.from_settings({**QUICK, **(settings or {})}, {"device": "cpu"})
    model = fit_subjects(
        stores(study, subjects),
        study.stimuli(),
        ArrayFeatures(study.features),
        cfg,
        folder,
        on_epoch_end=hook,
    )
    seal_model_folder(folder)  # as the fit job does after the kind's fit
    return model


@pytest.fixture(scope="module")
def uninterrupted(shared08, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "shared_x"
    fit(shared08, folder)
    return folder


def test_two_cpu_runs_write_byte_identical_files(shared08, uninterrupted, tmp_path):
    fit(shared08, tmp_path / "again")
    for name in ("weights.safetensors", "model.json"):
        assert (tmp_path / "again" / name).read_bytes() == (uninterrupted / name).read_bytes()
    model = json.loads((uninterrupted / "model.json").read_text())
    assert model["subjects"] == [1, 2, 3] and len(model["history"]) == model["epochs"] == 6
    assert len(model["validation_image_ids"]) == round(0.1 * shared08.n_train)
    assert model["subject_images"]["sub-02"]["n_validation"] == 24  # the same images for all
    assert not (uninterrupted / CHECKPOINT).exists()


def test_a_killed_training_resumes_to_the_uninterrupted_weights(
    shared08, uninterrupted, tmp_path, caplog
):
    folder = tmp_path / "shared_x"

    def stop_after_three(epoch, loss, model):
        if epoch == 3:
            raise TrainingKilledError

    with pytest.raises(TrainingKilledError):
        fit(shared08, folder, hook=stop_after_three)
    assert (folder / CHECKPOINT).is_file() and not (folder / "model.json").exists()
    with caplog.at_level(logging.INFO, logger="bergforge.models.mlp.train"):
        fit(shared08, folder)
    assert "after epoch 3" in caplog.text and "epoch 4/6: training loss" in caplog.text
    assert "epoch 3/6" not in caplog.text.split("resumed")[1]
    assert (folder / "weights.safetensors").read_bytes() == (
        uninterrupted / "weights.safetensors"
    ).read_bytes()
    assert not (folder / CHECKPOINT).exists()


def forward(t: dict[str, np.ndarray], features: np.ndarray, subject: int) -> np.ndarray:
    """Subject ``subject``'s responses, written out here: scaler, PCA, standardisation, the trunk's
    GELU layer, the subject's adapter, its target statistics."""
    t = {k: v.astype(np.float64) for k, v in t.items()}
    x = (features.astype(np.float64) - t["scaler.mean_"]) / t["scaler.scale_"]
    h = (x @ t["pca.components_"].T - t["input.mean"]) / t["input.scale"]
    h = h @ t["trunk.hidden.0.weight"].T + t["trunk.hidden.0.bias"]
    h = h * 0.5 * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    sub = f"sub-{subject:02d}"
    out = h @ t[f"adapter.{sub}.weight"].T + t[f"adapter.{sub}.bias"]
    return out * t[f"target.{sub}.scale"] + t[f"target.{sub}.mean"]


def test_each_subject_model_is_its_adapter_on_the_shared_trunk(shared08, uninterrupted):
    kind = get_kind("shared")
    rows = np.arange(shared08.n_train, shared08.n_train + shared08.n_test)
    features = ArrayFeatures(shared08.features)
    tensors, config = kind.tensors(uninterrupted)
    assert config["subjects"] == [1, 2, 3] and config["n_targets"]["sub-02"] == 160
    assert (config["input"], config["hidden"], config["depth"]) == ("pca", 32, 1)
    for subject in (1, 3):
        predicted = kind.predict_features([uninterrupted], features, rows, subject=subject)[0]
        expected = forward(tensors, shared08.features[rows], subject)
        np.testing.assert_allclose(
            predicted, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
        )
        dense = kind.from_tensors(tensors, {**config, "subject": subject}).predict(
            shared08.features[rows]
        )
        np.testing.assert_array_equal(dense, predicted)
    with pytest.raises(DataError, match="no adapter of subject 4; it was fitted on subjects"):
        kind.predict_features([uninterrupted], features, rows, subject=4)
    with pytest.raises(ConfigError, match="pass subject="):
        kind.predict_features([uninterrupted], features, rows)


def test_targets_are_matched_by_channel_when_a_subject_lacks_one(tmp_path):
    """Subject 2 lacks the study's 4th channel, subject 3 its 1st: a fit trains every subject on
    its own targets, and the held-out subject 1's mean adapter averages, per target, the subjects
    that have it (computed here by channel name)."""
    study = shared_study(tmp_path, 0.8, subjects=(1, 2, 3), n_train=60, drop={2: 3, 3: 0})
    model = fit(study, tmp_path / "m", {"max_epochs": 2, "patience": 2})
    assert model["target_shapes"] == {"sub-01": [16, 10], "sub-02": [15, 10], "sub-03": [15, 10]}
    tensors = get_kind("shared").tensors(tmp_path / "m")[0]
    held, trained = stores(study, (1,))[0], stores(study, (2, 3))
    adapter = mean_adapter(tensors, held, trained)
    names = held.attrs["channels"]
    for channel in (0, 3, 7):
        rows = []
        for store in trained:
            if names[channel] in store.attrs["channels"]:
                c = store.attrs["channels"].index(names[channel])
                rows.append(
                    tensors[f"adapter.sub-{store.subject:02d}.weight"][c * 10 : c * 10 + 10]
                )
        assert len(rows) == (1 if channel in (0, 3) else 2)
        np.testing.assert_allclose(
            adapter.weight[channel * 10 : channel * 10 + 10], np.mean(rows, axis=0), rtol=1e-6
        )
    assert adapter.covered.all()
    # a store without channel names cannot be matched to one of another shape
    for store in trained:
        store.attrs.pop("channels")  # in memory only
    with pytest.raises(DataError, match="record no channel or vertex names"):
        mean_adapter(tensors, held, trained)


def test_bad_inputs_are_one_clear_error_each(shared08, tmp_path):
    from bergforge.workflow.models import check_models

    features = ArrayFeatures(shared08.features)
    one = FitRequest("d", "eeg", (1,), "all", (shared08.stores[1],), tmp_path / "s.tsv")
    with pytest.raises(ConfigError, match=r"needs at least 2 distinct subjects; got \[1\]"):
        fit_shared(one, tmp_path / "a")
    with pytest.raises(
        ConfigError, match=r"held-out subject 7 is not in the data; expected one of \[1, 2, 3, 4\]"
    ):
        unseen(shared08, tmp_path, held_out=7)
    with pytest.raises(ConfigError, match="few_shot_k = 1; expected 0"):
        unseen(shared08, tmp_path, {"few_shot_k": 1})
    with pytest.raises(DataError, match="few_shot_k = 500 needs 500 training images of subject 1"):
        unseen(shared08, tmp_path, {"few_shot_k": 500, "max_epochs": 1})
    with pytest.raises(ConfigError, match=r"models.shared: unknown key\(s\) \['widht'\]"):
        SharedConfig.from_settings({"widht": 3})
    with pytest.raises(ConfigError, match="models.shared: few_shot_alphas"):
        SharedConfig(few_shot_alphas=(1.0, -1.0))
    with pytest.raises(DataError, match="n_components = 300 needs more training images"):
        fit(shared08, tmp_path / "b", {"n_components": 300})
    assert not (tmp_path / "b" / "model.json").exists()
    assert features.shape[0] == shared08.n_train + shared08.n_test
    # the config is refused before any job: one subject, an unknown held-out subject
    config = {
        "datasets": {
            "d": {
                "format": "things_eeg2",
                "source": "simulated",
                "subjects": [1],
                "models": {"shared": {}},
            }
        },
        "backbones": {"alexnet_untrained": {}},
    }
    with pytest.raises(
        ConfigError,
        match=r"datasets.d.models.shared: kind 'shared' fits one model over at least 2 "
        r"subjects; the dataset has subjects \[1\]",
    ):
        check_models(config)
    config["datasets"]["d"]["subjects"] = [1, 2]
    config["datasets"]["d"]["models"]["shared"] = {"unseen_subjects": [2, 5]}
    with pytest.raises(
        ConfigError, match=r"unseen_subjects: held-out subject\(s\) \[5\] are not in the data"
    ):
        check_models(config)


def no_repetition(image: int):
    def edit(train: np.ndarray) -> np.ndarray:
        train[image] = np.nan  # every repetition of the image missing
        return train

    return edit


def one_value(image: int, value: float, repetition: int = 0, channel: int = 3, time: int = 4):
    def edit(train: np.ndarray) -> np.ndarray:
        train[image, repetition, channel, time] = value
        return train

    return edit


def bad_responses(image: int) -> list[tuple[object, str]]:
    """(edit of a store's training trials, the one error it must give) for training ``image``."""
    return [
        (
            no_repetition(image),
            rf"training image {image} \(train_{image}\) has no finite repetition \(1 such images\); "
            r"expected at least one repetition of every training image \(the shared kind does not "
            r"drop images\)",
        ),
        (
            one_value(image, np.inf),
            rf"train contains infinite values \(image {image}, target 34\); expected finite",
        ),
        (
            one_value(image, np.nan, repetition=1),
            rf"train: image {image} has NaN responses in a present repetition; expected finite",
        ),
    ]


def test_bad_responses_of_a_trained_subject_are_one_clear_error_each(shared08, tmp_path):
    """Subject 2's store with a training image without a finite repetition, an infinite
    response, or a NaN inside a present repetition: the fit stops before its first epoch with
    one error naming the store and the image; nothing is written."""
    epochs = []
    for k, (edit, message) in enumerate(bad_responses(5)):
        study = with_edited_store(shared08, 2, tmp_path / f"s{k}", edit)
        folder = tmp_path / f"m{k}"
        with pytest.raises(DataError, match=message) as err:
            fit(study, folder, hook=lambda *a: epochs.append(a))
        assert str(study.stores[2]) in str(err.value)
        assert not folder.exists() or not any(folder.iterdir())
    assert epochs == []


def test_bad_responses_of_the_held_out_subject_stop_before_the_trunk_is_trained(shared08, tmp_path):
    """Leave-one-subject-out with few-shot images: the held-out subject's bad few-shot image
    gives its one error before any epoch of the trunk (which never reads that subject)."""
    cfg = SharedConfig.from_settings(UNSEEN, {"device": "cpu"})
    image = int(few_shot_positions(shared08.n_train, cfg.few_shot_k, cfg.seed, 1)[0])
    epochs = []
    for k, (edit, message) in enumerate(bad_responses(image)):
        study = with_edited_store(shared08, 1, tmp_path / f"s{k}", edit)
        with pytest.raises(DataError, match=message):
            predict_unseen(
                stores(study),
                1,
                study.stimuli(),
                ArrayFeatures(study.features),
                cfg,
                np.arange(study.n_train, study.n_train + 3),
                tmp_path / f"c{k}" / CHECKPOINT,
                on_epoch_end=lambda *a: epochs.append(a),
            )
        assert not (tmp_path / f"c{k}").exists()
    assert epochs == []


def test_cuda_without_a_gpu_is_one_error_naming_the_shared_section(shared08, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert shared_train_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert shared_train_device("auto").type == "cpu"
    paths = (shared08.stores[1], shared08.stores[2])
    request = FitRequest(
        "d", "eeg", (1, 2), "all", paths, tmp_path / "s.tsv", runtime={"device": "cuda"}
    )
    message = (
        "^models.shared.device is 'cuda' but torch sees no CUDA device; expected a visible GPU"
    )
    with pytest.raises(ConfigError, match=message):
        fit_shared(request, tmp_path / "m")  # before any input is opened
    with pytest.raises(ConfigError, match=message):
        get_kind("shared").predict_unseen(request, 2, np.arange(3), tmp_path / "u")
    assert not (tmp_path / "m").exists() and not (tmp_path / "u").exists()


def shared_train_device(setting: str) -> torch.device:
    from bergforge.models.mlp.train import resolve_device

    return resolve_device(setting, SharedConfig.SECTION)


def test_train_shared_network_puts_everything_on_the_device_and_makes_nothing_off_it(
    monkeypatch, tmp_path
):
    """``train_shared_network`` given host arrays and the `meta` device (the stand-in for cuda
    here): the trunk, the adapters, AdamW's moments, each epoch's dropout generator and every
    tensor two training epochs and a validation pass make are on that device, but AdamW's step
    counters (kept on the host by PyTorch). `meta` has no random generators: the epochs get none."""
    meta = torch.device("meta")
    ran, generators = {}, []

    def two_epochs(fresh, train_epoch, validate, cfg, device, checkpoint, data_id, hook=None):
        model, optimizer = fresh()
        with DeviceRecorder() as made:
            losses = [train_epoch(model, optimizer, 0), train_epoch(model, optimizer, 1)]
            losses.append(validate(model))
        ran.update(model=model, optimizer=optimizer, losses=losses, made=made, device=device)

    monkeypatch.setattr(shared_train, "train_loop", two_epochs)
    monkeypatch.setattr(
        shared_train, "dropout_generator", lambda seed, epoch, device: generators.append(device)
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 6), dtype=np.float32)
    ys = [rng.standard_normal((5, 4), dtype=np.float32), rng.standard_normal((7, 3), np.float32)]
    fit = shared_train.Samples.of([(np.arange(4), np.arange(4)), (np.arange(2, 8), np.arange(6))])
    val = shared_train.Samples.of([(np.array([4]), np.array([4])), (np.array([8]), np.array([6]))])
    cfg = SharedConfig(hidden=8, batch_size=4)
    shared_train.train_shared_network(x, ys, fit, val, cfg, meta, tmp_path / CHECKPOINT, "data")
    assert ran["device"] == meta and generators == [meta, meta]
    assert all(p.device == meta for p in ran["model"].parameters())
    assert all(loss.device == meta and loss.shape == () for loss in ran["losses"])
    state = ran["optimizer"].state.values()
    moments = [v for s in state for k, v in s.items() if k != "step"]
    assert len(moments) == 12 and all(v.device == meta for v in moments)
    assert len(ran["made"].made) > 100 and ran["made"].off(meta, ran["optimizer"]) == []


def test_the_epoch_loop_never_leaves_the_device():
    """The batch plan groups each batch by subject and covers every sample once; the epoch and
    validation loops run on PyTorch's `meta` device (no data: any read-back to the host would
    raise there)."""
    samples = shared_train.Samples.of(
        [(np.arange(5), np.arange(5)), (np.arange(2, 9), np.arange(7))]
    )
    plan = shared_train.epoch_plan(samples, 0, 3, 4, torch.device("cpu"))
    seen = []
    for start, stop, runs in plan.batches:
        assert [r[1] for r in runs] == [start] + [r[2] for r in runs[:-1]] and runs[-1][2] == stop
        for subject, a, b in runs:
            seen += [(subject, int(t)) for t in plan.target_rows[a:b]]
    assert sorted(seen) == sorted(
        zip(samples.subject.tolist(), samples.target_row.tolist(), strict=True)
    )

    meta = torch.device("meta")
    model = build_shared(6, [4, 3], 8, 2, 0.2, 0).to(meta)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.empty(9, 6, device=meta)
    ys = [torch.empty(5, 4, device=meta), torch.empty(7, 3, device=meta)]
    on_meta = shared_train.epoch_plan(samples, 0, 0, 4, meta)
    loss = shared_train.run_epoch(model, optimizer, x, ys, on_meta, None)
    assert loss.device == meta and loss.shape == ()
    assert shared_train.validation_loss(model, x, ys, on_meta).device == meta
    assert all(p.device == meta for p in model.parameters())


def test_fit_shared_is_sized_from_its_inputs():
    """Every subject's targets in memory; the network's parameters (counted here on the network)
    on the host; 6 × (trunk + the subject's adapter) MFLOP per sample and epoch."""
    from bergforge.workflow.resources import COEFFICIENTS, MB, shared_size

    settings = {"n_components": 10, "hidden": 32, "depth": 2, "max_epochs": 7}
    net = build_shared(10, [50, 40], 32, 2, 0.0, 0)
    params = sum(p.numel() for p in net.parameters())
    trunk = sum(p.numel() for p in net.hidden.parameters())
    cpu = shared_size([100, 80], [50, 40], 120, 300, 4, settings, "cpu")
    assert cpu.units == pytest.approx((100 * 50 + 80 * 40) * 4 / MB)
    assert cpu.work == pytest.approx(
        7 * 6 * (100 * (trunk + 32 * 50 + 50) + 80 * (trunk + 32 * 40 + 40)) / 1e6
    )
    gpu = shared_size([100, 80], [50, 40], 120, 300, 4, settings, "cuda")
    assert cpu.fixed_mb - gpu.fixed_mb == pytest.approx(params * 4 / MB)
    for key in ("fit_shared/cpu", "fit_shared/cuda", "evaluate_unseen/cpu", "evaluate_unseen/cuda"):
        row = COEFFICIENTS[key]
        real = shared_size(
            [22248] * 4,
            [76151] * 4,
            22448,
            460800,
            4,
            {},
            key.split("/")[1],
            key.startswith("evaluate"),
        )
        assert (real.units, real.work, real.fixed_mb) == pytest.approx(
            (row.real.units, row.real.work, row.real.fixed_mb)
        )
        assert ("not yet measured" in row.source) == key.startswith("evaluate_unseen")


def test_the_device_is_a_runtime_setting_and_few_shot_settings_rerun_no_fit():
    from bergforge.workflow.models import evaluation_gpu, fit_params, unseen_gpu, unseen_params

    config = {
        "datasets": {
            "d": {
                "format": "things_eeg2",
                "source": "simulated",
                "subjects": [1, 2],
                "models": {"shared": {"hidden": 8, "device": "cuda", "few_shot_k": 5}},
            }
        },
        "backbones": {"alexnet_untrained": {}},
        "models": {"shared": {"lr": 0.01, "unseen_subjects": [2]}},
    }
    wildcards = SimpleNamespace(dataset="d", model="shared_alexnet_untrained", subject="02")
    kind = get_kind("shared")
    assert fit_params(config, kind)["settings"](wildcards) == {"hidden": 8, "lr": 0.01}
    assert unseen_params(config)["settings"](wildcards) == {
        "hidden": 8,
        "lr": 0.01,
        "few_shot_k": 5,
    }
    assert unseen_gpu(config)(wildcards) == 1 and evaluation_gpu(config)(wildcards) == 0
    from bergforge.workflow.models import unseen_targets

    assert unseen_targets(config) == [
        "results/evaluation/d/shared_alexnet_untrained/unseen/sub-02/unseen.npz"
    ]
