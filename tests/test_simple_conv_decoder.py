"""The ``SimpleConvTimeAgg`` MEG/EEG decoder (models/decoding/simple_conv*): its size at the task's
dimensions counted layer by layer here, the Fourier embedding and the spatial attention against
direct computations, the attention's independence of the sensor order, training through the
decoders' loop on a small simulated problem (above chance, resumable, on-device), and bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from device_check import DeviceRecorder

from bergforge.errors import ConfigError, DataError
from bergforge.models.decoding import simple_conv_train as sct
from bergforge.models.decoding import train as decoding_train
from bergforge.models.decoding.loss import true_ranks
from bergforge.models.decoding.simple_conv import FourierPositions, build
from bergforge.models.decoding.simple_conv_settings import SimpleConvConfig

CPU = torch.device("cpu")
#: a small network for the training tests
SMALL = dict(n_virtual=8, n_freqs=3, initial_linear=8, hidden=16, depth=2, backbone_out=16)
SMALL |= dict(spatial_dropout=0.1, lr=3e-3, batch_size=32, max_epochs=8, patience=8)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def positions(n: int, d: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, d)).astype(np.float32)


def problem(n: int = 384, c: int = 12, t: int = 32, d: int = 8, noise: float = 1.0, seed: int = 0):
    """Windows (n, c, t) whose spatial pattern is a linear map of (n, d) embeddings, shaped in time
    by a damped 6-cycle wave, plus white noise; the sensors' positions (c, 3)."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, d))
    pattern = y @ rng.standard_normal((d, c))
    wave = np.sin(np.linspace(0, 6 * np.pi, t)) * np.exp(-np.linspace(0, 3, t))
    x = pattern[:, :, None] * wave + noise * rng.standard_normal((n, c, t))
    return x.astype(np.float32), y.astype(np.float32), positions(c, seed=seed + 1)


# --- the network ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_channels", [271, 63])
def test_the_network_has_the_tasks_layers_and_size(n_channels):
    """THINGS-MEG1 (271 sensors) and THINGS-EEG2 (63) × 120 samples → 1,536: 4,958,699
    parameters, counted here layer by layer from the research note's description."""
    net = build(torch.from_numpy(positions(n_channels)), 120, 1536, SimpleConvConfig())

    def conv(c_in, c_out, k):
        return c_in * c_out * k + c_out

    expected = {
        "spatial": 270 * 2 * 10**3,
        "initial": conv(270, 270, 1),
        "layers.0.conv": conv(270, 320, 3),
        "layers.1.conv": conv(320, 320, 3),
        "layers.2.conv": conv(320, 320, 3),
        "layers.3.conv": conv(320, 512, 3),
        "norms": 3 * 2 * 320,
        "gates": conv(320, 640, 3) + conv(512, 1024, 3),
        "time_agg": 121,
        "head": 512 * 1536 + 1536,
    }
    counts = dict.fromkeys(expected, 0)
    for name, p in net.named_parameters():
        key = next(
            (k for k in ("spatial", "initial", "time_agg", "head") if name.startswith(k)), None
        )
        if key is None:
            part = name.split(".")[2]
            key = {"norm": "norms", "gate": "gates"}.get(part, ".".join(name.split(".")[:3]))
        counts[key] += p.numel()
    assert counts == expected
    assert sum(expected.values()) == sum(p.numel() for p in net.parameters()) == 4_958_699
    assert [layer.conv.dilation[0] for layer in net.layers] == [1, 2, 4, 8]
    assert [layer.residual for layer in net.layers] == [False, True, True, False]
    assert [layer.gate is not None for layer in net.layers] == [False, True, False, True]
    assert [layer.norm is not None for layer in net.layers] == [True, True, True, False]
    net.eval()
    assert net(torch.zeros(2, n_channels, 120)).shape == (2, 1536)


def test_fourier_embedding_against_a_loop():
    """cos then sin of 2π Σ_d k_d (p_d + margin) / (1 + 2 margin) over every k ∈ {0,1,2}³."""
    emb = FourierPositions(3, 3, 0.2)
    pos = positions(4)
    got = emb(torch.from_numpy(pos)).numpy()
    assert got.shape == (4, 2 * 27) and emb.size == 54
    for c, p in enumerate(pos):
        phases = [
            2 * math.pi * sum(k[d] * (p[d] + 0.2) for d in range(3)) / 1.4
            for k in itertools.product(range(3), repeat=3)
        ]
        np.testing.assert_allclose(
            got[c], np.cos(phases).tolist() + np.sin(phases).tolist(), atol=1e-5
        )


def test_spatial_attention_is_a_softmax_over_sensors_of_heads_times_embedding():
    net = build(torch.from_numpy(positions(9)), 16, 4, SimpleConvConfig(**SMALL)).eval()
    attention = net.spatial
    pos = net.positions
    weights = attention.weights(pos).detach().numpy()
    scores = attention.heads.detach().numpy() @ attention.embedding(pos).numpy().T  # (V, C)
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-7)
    x = torch.randn(3, 9, 16)
    np.testing.assert_allclose(attention(x, pos).detach().numpy(), expected @ x.numpy(), atol=1e-5)


def test_spatial_dropout_removes_the_sensors_near_a_drawn_point():
    cfg = SimpleConvConfig(**{**SMALL, "spatial_dropout": 0.4})
    net = build(torch.from_numpy(positions(30)), 16, 4, cfg).train()
    centre = torch.rand(3, generator=torch.Generator().manual_seed(5))
    near = ((net.positions - centre).norm(dim=1) <= 0.4).numpy()
    assert 0 < near.sum() < 30
    weights = net.spatial.weights(net.positions, torch.Generator().manual_seed(5)).detach().numpy()
    assert (weights[:, near] == 0).all() and (weights[:, ~near] > 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1, rtol=1e-6)
    net.eval()  # no dropout outside training
    assert (net.spatial.weights(net.positions).detach().numpy() > 0).all()


@pytest.mark.parametrize("training", [False, True])
def test_the_output_does_not_depend_on_the_sensor_order(training):
    """The sensors and their positions permuted together: the same output (in training too, with
    the same spatial-dropout draw)."""
    cfg = SimpleConvConfig(**{**SMALL, "spatial_dropout": 0.3})
    pos = torch.from_numpy(positions(20))
    perm = torch.from_numpy(np.random.default_rng(1).permutation(20))
    net = build(pos, 24, 5, cfg)
    other = build(pos[perm], 24, 5, cfg)
    other.load_state_dict({**net.state_dict(), "positions": pos[perm]})
    net.train(training)
    other.train(training)
    x = torch.randn(6, 20, 24)
    a = net(x, torch.Generator().manual_seed(3))
    b = other(x[:, perm], torch.Generator().manual_seed(3))
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)
    shuffled = build(pos, 24, 5, cfg).train(training)  # positions not permuted: another output
    shuffled.load_state_dict(net.state_dict())
    c = shuffled(x[:, perm], torch.Generator().manual_seed(3))
    assert not np.allclose(a.detach().numpy(), c.detach().numpy(), atol=1e-3)


def test_subject_layers_apply_each_trials_subjects_linear_map():
    cfg = SimpleConvConfig(**{**SMALL, "subject_layers": True})
    net = build(torch.from_numpy(positions(6)), 16, 4, cfg, n_subjects=3).eval()
    layer = net.subject_layers
    h = torch.randn(4, 8, 16)
    subjects = torch.tensor([2, 0, 2, 1])
    out = layer(h, subjects).detach().numpy()
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    for i, s in enumerate(subjects.tolist()):
        np.testing.assert_allclose(out[i], w[s].T @ h[i].numpy() + b[s][:, None], atol=1e-5)
    x = torch.randn(4, 6, 16)
    assert not torch.allclose(
        net(x, None, torch.zeros(4, dtype=torch.long)), net(x, None, subjects)
    )
    with pytest.raises(DataError, match="the subject layer needs the trials' subjects"):
        net(x)


def test_bad_shapes_positions_and_settings_are_one_error_each():
    net = build(torch.from_numpy(positions(6)), 16, 4, SimpleConvConfig(**SMALL))
    with pytest.raises(
        DataError, match=r"expected an input of shape \(batch, 6 channels, 16 samples\)"
    ):
        net(torch.zeros(2, 6, 17))
    with pytest.raises(DataError, match="normalised to \\[0, 1\\]"):
        build(torch.full((6, 3), 1.5), 16, 4, SimpleConvConfig(**SMALL))
    with pytest.raises(DataError, match=r"positions \(channels, 2 or 3\), got \(6, 4\)"):
        build(torch.zeros(6, 4), 16, 4, SimpleConvConfig(**SMALL))
    for key, value in {"kernel": 4, "time_agg": "att", "device": "tpu", "hidden": 0}.items():
        with pytest.raises(ConfigError, match=rf"^models\.simple_conv: .*{key}"):
            SimpleConvConfig.from_settings({key: value})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['merger'\]"):
        SimpleConvConfig.from_settings({"merger": True})
    assert SimpleConvConfig.from_settings({}, {"device": "cpu"}).device == "cpu"


# --- training ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    return problem()


def train(data, checkpoint, cfg=None, hook=None, subjects=None):
    x, y, pos = data
    cfg = cfg or SimpleConvConfig(**SMALL)
    return sct.train_simple_conv(
        x, y, pos, np.arange(256), np.arange(256, 320), cfg, CPU, checkpoint, "d", subjects, hook
    )


def test_learns_the_simulated_mapping_far_above_chance(data, tmp_path):
    """Held-out trials ranked among their 64 targets: top-5 far above chance (5/64 = 7.8 %); the
    kept epoch is the best validation one, and the network rebuilt from the kept weights gives
    the same predictions."""
    x, y, _ = data
    trained = train(data, tmp_path / "c.safetensors")
    tops = [h["val_top5"] for h in trained.history]
    assert trained.best_epoch == 1 + int(np.argmax(tops)) and trained.best_val_top5 == max(tops)
    net = sct.load_network(trained.weights, 32, 8, SimpleConvConfig(**SMALL), CPU)
    predicted = sct.embed(net, x[320:], batch_size=20)
    ranks = true_ranks(torch.from_numpy(predicted), torch.from_numpy(y[320:]))
    top5 = float((ranks < 5).float().mean())
    assert top5 > 4 * 5 / 64, top5
    assert trained.history[-1]["train_loss"] < 0.8 * math.log(32)  # below chance's log(batch)


def test_a_killed_run_resumes_to_the_same_weights(data, tmp_path):
    class KilledError(Exception):
        pass

    cfg = SimpleConvConfig(**{**SMALL, "max_epochs": 4, "patience": 4})

    def kill(epoch, record, model):
        if epoch == 2:
            raise KilledError

    whole = train(data, tmp_path / "a", cfg)
    with pytest.raises(KilledError):
        train(data, tmp_path / "b", cfg, kill)
    resumed = train(data, tmp_path / "b", cfg)
    assert resumed.history == whole.history
    for name, value in whole.weights.items():
        np.testing.assert_array_equal(resumed.weights[name], value, err_msg=name)


def test_subject_indices_reach_the_subject_layer_in_training(data, tmp_path):
    cfg = SimpleConvConfig(**{**SMALL, "subject_layers": True, "max_epochs": 2})
    subjects = np.arange(len(data[0])) % 3
    trained = train(data, tmp_path / "c", cfg, subjects=subjects)
    assert trained.weights["subject_layers.weight"].shape == (3, 8, 16)
    with pytest.raises(DataError, match="subject_layers needs one subject index per trial"):
        train(data, tmp_path / "d", cfg)


def test_bad_training_inputs_are_one_error_each(data, tmp_path):
    x, y, pos = data
    with pytest.raises(DataError, match=r"one sensor position per channel \(12\)"):
        train((x, y, pos[:5]), tmp_path / "c")
    with pytest.raises(DataError, match="expected float32"):
        train((x.astype(np.float64), y, pos), tmp_path / "c")
    with pytest.raises(DataError, match="as many trials"):
        train((x, y[:50], pos), tmp_path / "c")


def test_the_epoch_loop_makes_nothing_off_the_device(monkeypatch, tmp_path):
    """On PyTorch's ``meta`` device (the stand-in for cuda): the network, AdamW's moments and
    every tensor two training epochs (spatial dropout, BatchNorm, clipping, AdamW, OneCycleLR)
    and a validation pass make are on that device."""
    meta = torch.device("meta")
    ran, generators = {}, []

    def two_epochs(fresh, train_epoch, validate, n_validation, cfg, checkpoint, identity, hook):
        model, optimizer, scheduler = fresh()
        with DeviceRecorder() as made:
            losses = [train_epoch(model, optimizer, scheduler, e) for e in (0, 1)]
            sums = validate(model)
        ran.update(model=model, optimizer=optimizer, losses=losses, sums=sums, made=made)

    monkeypatch.setattr(decoding_train, "decoder_loop", two_epochs)
    monkeypatch.setattr(
        decoding_train, "dropout_generator", lambda seed, epoch, device: generators.append(device)
    )
    x, y, pos = problem(n=40)
    cfg = SimpleConvConfig(**{**SMALL, "batch_size": 5, "max_epochs": 2})
    sct.train_simple_conv(
        x, y, pos, np.arange(30), np.arange(30, 40), cfg, meta, tmp_path / "c", "d"
    )
    assert generators == [meta, meta]
    assert all(p.device == meta for p in ran["model"].parameters())
    assert all(loss.device == meta and loss.shape == () for loss in ran["losses"])
    assert ran["sums"].device == meta and ran["sums"].shape == (4,)
    made = ran["made"]
    assert [name for name, _ in made.made].count("clamp") == 12  # clipping: once per batch
    assert len(made.made) > 200 and made.off(meta, ran["optimizer"]) == []


def test_device_setting_is_resolved_like_the_other_decoders(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sct.simple_conv_device(SimpleConvConfig(device="auto")).type == "cpu"
    with pytest.raises(ConfigError, match="^models.simple_conv.device is 'cuda'"):
        sct.simple_conv_device(SimpleConvConfig(device="cuda"))


# --- on a GPU (skipped where torch sees none) ----------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_the_gpu_gives_the_cpu_weights_and_never_waits(data, tmp_path, monkeypatch):
    """Without spatial dropout (the CPU's and the GPU's generators draw other points), the same
    epochs and kept weights within float32 round-off; then two epochs with dropout on the GPU
    with any host synchronisation an error."""
    gpu = torch.device("cuda", 0)
    x, y, pos = data
    cfg = SimpleConvConfig(**{**SMALL, "spatial_dropout": 0.0, "max_epochs": 4})
    runs = {
        name: sct.train_simple_conv(
            x, y, pos, np.arange(256), np.arange(256, 320), cfg, device, tmp_path / name, "d"
        )
        for name, device in (("cpu", CPU), ("gpu", gpu))
    }
    assert runs["gpu"].best_epoch == runs["cpu"].best_epoch
    np.testing.assert_allclose(
        [h["train_loss"] for h in runs["gpu"].history],
        [h["train_loss"] for h in runs["cpu"].history],
        rtol=1e-3,
    )
    for name, value in runs["cpu"].weights.items():
        scale = float(np.abs(value).max()) or 1.0
        np.testing.assert_allclose(runs["gpu"].weights[name], value, rtol=1e-3, atol=1e-3 * scale)

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
        ran.update(out=out, made=made, optimizer=optimizer)

    monkeypatch.setattr(decoding_train, "decoder_loop", two_epochs)
    sct.train_simple_conv(
        x,
        y,
        pos,
        np.arange(256),
        np.arange(256, 320),
        SimpleConvConfig(**SMALL),
        gpu,
        tmp_path / "sync",
        "d",
    )
    assert all(t.device == gpu for t in ran["out"])
    assert ran["made"].off(gpu, ran["optimizer"]) == []
