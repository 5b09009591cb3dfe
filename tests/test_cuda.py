"""The cuda paths on a real GPU (skipped where torch sees none, as in CI).

Each check runs the same code on the CPU and on the GPU in one process: the ``mlp`` and ``shared``
fits (and the ``fmri_mlp`` decoder's training, without dropout) give the same weights within
float32 round-off, their epoch and validation loops make every tensor on the GPU and never wait
for it (``torch.cuda.set_sync_debug_mode("error")`` raises at any host read-back, implicit or
not), and feature extraction on the GPU writes the same features.
The CPU-only tests stand in for these with PyTorch's ``meta`` device (``test_mlp_kind``,
``test_shared_kind``, ``test_fmri_mlp_decoder``); here the real device is used.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from device_check import DeviceRecorder
from encoding_data import linear_problem, stimuli_table, write_prepared
from PIL import Image
from safetensors.numpy import load_file
from shared_data import shared_study

from bergforge.features.extract import forward_layers
from bergforge.features.models import build_backbone
from bergforge.features.registry import get_spec
from bergforge.models.decoding import train as decoding_train
from bergforge.models.decoding.settings import DecoderConfig
from bergforge.models.linear.matrix import ArrayFeatures
from bergforge.models.mlp import train as mlp_train
from bergforge.models.mlp.job import fit_subject
from bergforge.models.mlp.settings import MlpConfig
from bergforge.models.shared import train as shared_train
from bergforge.models.shared.job import fit_subjects
from bergforge.models.shared.settings import SharedConfig
from bergforge.preprocess.responses import PreparedResponses

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

DEVICE = "cuda"  # the device under test, beside "cpu"
GPU = torch.device("cuda", 0)
N_TRAIN, N_TEST = 64, 12
#: no dropout in the CPU-vs-GPU fits: CPU and CUDA generators draw other masks from one seed
MLP = {"n_components": 6, "hidden": 16, "max_epochs": 8, "patience": 8, "batch_size": 16}
MLP |= {"dropout": 0.0}
SHARED = {"n_components": 8, "hidden": 32, "batch_size": 32, "lr": 3e-3, "max_epochs": 6}
SHARED |= {"dropout": 0.0}


@pytest.fixture(autouse=True)
def exact_float32():
    """Plain float32 products on the GPU (no TF32), as on the CPU."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def assert_same_weights(cpu_folder, gpu_folder, rtol: float = 1e-3) -> None:
    cpu, gpu = (load_file(f / "weights.safetensors") for f in (cpu_folder, gpu_folder))
    assert sorted(cpu) == sorted(gpu)
    for name, value in cpu.items():
        scale = float(np.abs(value).max()) or 1.0
        np.testing.assert_allclose(gpu[name], value, rtol=rtol, atol=rtol * scale, err_msg=name)


def recorded_epochs(module, monkeypatch):
    """Replace ``module.train_loop`` by two epochs and a validation pass run with every tensor
    recorded and any host synchronisation an error; returns what they made."""
    ran = {}

    def two_epochs(fresh, train_epoch, validate, cfg, device, checkpoint, data_id, hook=None):
        model, optimizer = fresh()
        train_epoch(model, optimizer, 0)  # warm-up: the optimiser's state is made here
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            with DeviceRecorder() as made:
                losses = [train_epoch(model, optimizer, 1), validate(model)]
        finally:
            torch.cuda.set_sync_debug_mode("default")
        ran.update(model=model, optimizer=optimizer, losses=losses, made=made)

    monkeypatch.setattr(module, "train_loop", two_epochs)
    return ran


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    features, train, test = linear_problem(N_TRAIN, N_TEST, seed=3)
    path = write_prepared(tmp_path_factory.mktemp("mlp") / "sub-01.zarr", train, test)
    return path, features


def fit_mlp_on(problem, folder, device: str) -> dict:
    path, features = problem
    cfg = MlpConfig.from_settings(MLP, {"device": device})
    return fit_subject(
        PreparedResponses(path),
        stimuli_table(N_TRAIN, N_TEST),
        ArrayFeatures(features),
        cfg,
        1,
        folder,
        device=device,
    )


def test_mlp_fit_on_the_gpu_gives_the_cpu_weights(problem, tmp_path):
    fit_mlp_on(problem, tmp_path / "cpu", "cpu")
    fit_mlp_on(problem, tmp_path / "gpu", DEVICE)
    assert_same_weights(tmp_path / "cpu", tmp_path / "gpu")
    cpu, gpu = (json.loads((tmp_path / d / "model.json").read_text()) for d in ("cpu", "gpu"))
    assert gpu["device"] == DEVICE and cpu["device"] == "cpu"
    assert gpu["epochs"] == cpu["epochs"]
    np.testing.assert_allclose(
        [h["validation_loss"] for h in gpu["history"]],
        [h["validation_loss"] for h in cpu["history"]],
        rtol=1e-3,
    )


def test_mlp_epochs_on_the_gpu_make_nothing_on_the_host_and_never_wait(monkeypatch, tmp_path):
    ran = recorded_epochs(mlp_train, monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 12), dtype=np.float32)
    y = rng.standard_normal((200, 30), dtype=np.float32)
    cfg = MlpConfig(hidden=16, batch_size=32)
    fit, val = np.arange(180), np.arange(180, 200)
    mlp_train.train_network(x, y, fit, val, cfg, GPU, tmp_path / "checkpoint", "data")
    assert all(p.device == GPU for p in ran["model"].parameters())
    assert all(loss.device == GPU for loss in ran["losses"])
    assert len(ran["made"].made) > 50
    assert ran["made"].off(GPU, ran["optimizer"]) == []


def test_shared_fit_on_the_gpu_gives_the_cpu_weights(tmp_path):
    study = shared_study(tmp_path / "study", 0.8)
    folders = {}
    for name, device in (("cpu", "cpu"), ("gpu", DEVICE)):
        cfg = SharedConfig.from_settings({**SHARED, "patience": 6}, {"device": device})
        stores = [PreparedResponses(p) for p in study.stores.values()]
        folders[name] = tmp_path / name
        fit_subjects(
            stores, study.stimuli(), ArrayFeatures(study.features), cfg, folders[name], device
        )
    assert_same_weights(folders["cpu"], folders["gpu"])
    gpu = json.loads((folders["gpu"] / "model.json").read_text())
    assert gpu["device"] == DEVICE


def test_shared_epochs_on_the_gpu_make_nothing_on_the_host_and_never_wait(monkeypatch, tmp_path):
    ran = recorded_epochs(shared_train, monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 6), dtype=np.float32)
    ys = [rng.standard_normal((50, 4), np.float32), rng.standard_normal((70, 3), np.float32)]
    fit = shared_train.Samples.of(
        [(np.arange(45), np.arange(45)), (np.arange(20, 83), np.arange(63))]
    )
    val = shared_train.Samples.of(
        [(np.arange(45, 50), np.arange(45, 50)), (np.arange(83, 90), np.arange(63, 70))]
    )
    cfg = SharedConfig(hidden=8, batch_size=16)
    shared_train.train_shared_network(x, ys, fit, val, cfg, GPU, tmp_path / "checkpoint", "data")
    assert all(p.device == GPU for p in ran["model"].parameters())
    assert len(ran["made"].made) > 50
    assert ran["made"].off(GPU, ran["optimizer"]) == []


def decoder_data():
    """Windows (90 × 12 features × 4 TRs) whose pattern follows 8-d embeddings, plus noise."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal((90, 8)).astype(np.float32)
    x = (y @ rng.standard_normal((8, 12)))[:, :, None] * np.array([0.3, 1.0, 0.7, 0.2])
    return (x + 0.5 * rng.standard_normal(x.shape)).astype(np.float32), y


@pytest.mark.parametrize("subject_layers", [False, True])
def test_decoder_training_on_the_gpu_gives_the_cpu_weights(tmp_path, subject_layers):
    """Without dropout (the CPU's and the GPU's generators draw different masks from one seed)
    the same epochs, lr schedule and kept weights within float32 round-off; also with a subject
    layer per subject (3 subjects, trials alternating; that layer reads each batch's subjects
    back to the host, so it is left out of the no-wait check below)."""
    x, y = decoder_data()
    cfg = DecoderConfig(hidden=16, batch_size=16, max_epochs=6, patience=6, lr=3e-3)
    no_dropout = {"dropout_in": 0.0, "dropout_blocks": 0.0, "subject_layers": subject_layers}
    cfg = DecoderConfig(**{**cfg.hyperparameters(), **no_dropout})
    subjects = np.arange(90) % 3 if subject_layers else None
    fit, val = np.arange(70), np.arange(70, 90)
    runs = {
        name: decoding_train.train_decoder(
            x, y, fit, val, cfg, device, tmp_path / name, "data", subjects=subjects
        )
        for name, device in (("cpu", torch.device("cpu")), ("gpu", GPU))
    }
    cpu, gpu = runs["cpu"], runs["gpu"]
    assert gpu.best_epoch == cpu.best_epoch and gpu.epochs == cpu.epochs
    np.testing.assert_allclose(
        [h["train_loss"] for h in gpu.history], [h["train_loss"] for h in cpu.history], rtol=1e-3
    )
    assert [h["lr"] for h in gpu.history] == [h["lr"] for h in cpu.history]
    for name, value in cpu.weights.items():
        scale = float(np.abs(value).max()) or 1.0
        np.testing.assert_allclose(gpu.weights[name], value, rtol=1e-3, atol=1e-3 * scale)


def test_decoder_epochs_on_the_gpu_make_nothing_on_the_host_and_never_wait(monkeypatch, tmp_path):
    """Two training epochs (CLIP loss, clipping, AdamW, OneCycleLR, seeded dropout on a cuda
    generator) and the validation ranks, with any host synchronisation an error."""
    ran = {}

    def two_epochs(fresh, train_epoch, validate, n_validation, cfg, checkpoint, identity, hook):
        model, optimizer, scheduler = fresh()
        train_epoch(model, optimizer, scheduler, 0)  # warm-up: the optimiser's state is made here
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            with DeviceRecorder() as made:
                out = [train_epoch(model, optimizer, scheduler, 1), validate(model)]
        finally:
            torch.cuda.set_sync_debug_mode("default")
        ran.update(model=model, optimizer=optimizer, out=out, made=made)

    monkeypatch.setattr(decoding_train, "decoder_loop", two_epochs)
    x, y = decoder_data()
    cfg = DecoderConfig(hidden=16, batch_size=16, max_epochs=4)
    fit, val = np.arange(70), np.arange(70, 90)
    decoding_train.train_decoder(x, y, fit, val, cfg, GPU, tmp_path / "checkpoint", "data")
    assert all(p.device == GPU for p in ran["model"].parameters())
    assert all(t.device == GPU for t in ran["out"])
    assert len(ran["made"].made) > 100
    assert ran["made"].off(GPU, ran["optimizer"]) == []


@pytest.mark.parametrize("name", ["alexnet_untrained", "vit_b_32"])
def test_extraction_on_the_gpu_gives_the_cpu_features(name):
    """The backbone (seeded random weights) on the GPU: every recorded layer within float32
    round-off of the CPU's, on the same transformed batch."""
    spec = get_spec(name, {"weights": "none"} if name == "vit_b_32" else {})
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (240, 320, 3), np.uint8)) for _ in range(6)]
    layers = {}
    for name, device in (("cpu", "cpu"), ("gpu", DEVICE)):
        backbone = build_backbone(spec, device)
        batch = torch.stack([backbone.transform(image) for image in images]).to(device)
        with torch.inference_mode():
            layers[name] = {
                k: v.float().cpu().numpy() for k, v in forward_layers(backbone, batch).items()
            }
    assert sorted(layers["cpu"]) == sorted(layers["gpu"]) == sorted(spec.layers)
    for layer, cpu in layers["cpu"].items():
        scale = float(np.abs(cpu).max())
        np.testing.assert_allclose(layers["gpu"][layer], cpu, rtol=1e-3, atol=1e-4 * scale)
