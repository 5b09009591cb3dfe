"""The ``fmri_mlp`` decoder (models/decoding): the network's layers and size, the CLIP loss and
in-batch ranks against direct computations written here, and its training loop on tiny data:
deterministic, resumable, early-stopped on the validation top-5, learning a synthetic
brain → embedding mapping, and never leaving its device within an epoch."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from device_check import DeviceRecorder
from scipy.special import erf, logsumexp

from bergforge.errors import ConfigError, DataError
from bergforge.models.decoding import loss as decoding_loss
from bergforge.models.decoding import train as decoding_train
from bergforge.models.decoding.network import FmriMlp, build
from bergforge.models.decoding.settings import DecoderConfig

CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for the whole module (byte-identical runs need the same count; tiny
    networks run fastest on one thread on a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = {"hidden": 32, "dropout_in": 0.1, "batch_size": 16, "max_epochs": 6, "patience": 6}
SMALL |= {"lr": 1e-2}


class TrainingKilledError(Exception):
    """What the test hook raises to stop training as a killed job would stop."""


def windows(n: int, f: int = 30, d: int = 16, noise: float = 0.5, seed: int = 0):
    """(n, f, 4) float32 windows whose pattern is a mildly nonlinear function of 32-d latent
    vectors (shaped over the TRs like a slow response) plus noise, and (n, d) embeddings linear
    in the same latents."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 32))
    pattern = np.tanh(z @ rng.standard_normal((32, f)) / np.sqrt(32))
    x = pattern[:, :, None] * np.array([0.3, 1.0, 0.7, 0.2]) + noise * rng.standard_normal(
        (n, f, 4)
    )
    return x.astype(np.float32), (z @ rng.standard_normal((32, d))).astype(np.float32)


def numpy_ranks(estimates: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Rank of row i's candidate i among all candidates (normalised), ties averaged: a loop."""
    unit = candidates / (np.linalg.norm(candidates, axis=1, keepdims=True) + 1e-15)
    s = estimates.astype(np.float64) @ unit.T.astype(np.float64)
    ranks = []
    for i in range(len(estimates)):
        above = sum(1 for v in s[i] if v > s[i, i])
        ties = sum(1 for v in s[i] if v == s[i, i]) - 1
        ranks.append(above + ties / 2)
    return np.array(ranks)


# --- the network -----------------------------------------------------------------------------


def test_the_network_has_the_tasks_size_and_shapes():
    cfg = DecoderConfig()
    net = build(20_484, 1536, cfg)
    sizes = {name: p.numel() for name, p in net.named_parameters()}
    assert sum(sizes.values()) == 5_214_853  # the research note's total
    assert sizes["lin0.weight"] + sizes["lin0.bias"] == 2_622_080
    assert sizes["out_linear.weight"] + sizes["out_linear.bias"] == 5
    assert sizes["head.weight"] + sizes["head.bias"] == 2_360_832
    x = torch.zeros(3, 20_484, 4)
    assert net.eval()(x).shape == (3, 1536)
    with pytest.raises(DataError, match="^FmriMlp: expected 4 TRs, got 5$"):
        net(torch.zeros(2, 20_484, 5))
    with pytest.raises(DataError, match=r"expected an input of shape \(batch, 20484 features"):
        net(torch.zeros(2, 100, 4))
    mean = build(20_484, 1536, DecoderConfig(time_agg="out_mean"))
    assert sum(p.numel() for p in mean.parameters()) == 5_214_853 - 5


@pytest.mark.parametrize("time_agg", ["out_linear", "out_mean"])
def test_an_independent_forward_pass_gives_the_networks_output(time_agg):
    """The layers of the research note §1.6 written in NumPy (float64) from the network's
    weights: lin0 per TR, LayerNorm → GELU, residual blocks, the TRs aggregated, lin1, head."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        net = FmriMlp(7, 6, hidden=5, n_blocks=2, n_trs=4, time_agg=time_agg).eval()
        for p in net.parameters():  # LayerNorm's affine parameters away from their 1/0 start
            p.add_(0.1 * torch.randn_like(p))
    w = {k: v.double().numpy() for k, v in net.state_dict().items()}
    x = np.random.default_rng(1).standard_normal((3, 7, 4))

    def layer_norm(h, prefix):
        mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
        return (h - mu) / np.sqrt(var + 1e-5) * w[f"{prefix}.weight"] + w[f"{prefix}.bias"]

    def gelu(h):
        return 0.5 * h * (1 + erf(h / np.sqrt(2)))

    out = np.empty((3, 6))
    for b in range(3):
        per_tr = []
        for t in range(4):
            h = gelu(layer_norm(w["lin0.weight"] @ x[b, :, t] + w["lin0.bias"], "norm0"))
            for i in range(2):
                lin = w[f"blocks.{i}.linear.weight"] @ h + w[f"blocks.{i}.linear.bias"]
                h = gelu(layer_norm(lin, f"blocks.{i}.norm")) + h
            per_tr.append(h)
        per_tr = np.array(per_tr)  # (T, hidden)
        if time_agg == "out_linear":
            pooled = w["out_linear.weight"][0] @ per_tr + w["out_linear.bias"][0]
        else:
            pooled = per_tr.mean(axis=0)
        e = w["lin1.weight"] @ pooled + w["lin1.bias"]
        out[b] = w["head.weight"] @ e + w["head.bias"]
    with torch.no_grad():
        got = net(torch.from_numpy(x).float()).double().numpy()
    np.testing.assert_allclose(got, out, rtol=1e-5, atol=1e-5)


def test_the_linear_network_drops_layernorm_gelu_and_the_blocks():
    cfg = DecoderConfig(linear=True, n_blocks=0)
    net = build(20_484, 1536, cfg)
    sizes = {name: p.numel() for name, p in net.named_parameters()}
    assert not [n for n in sizes if n.startswith(("norm0.", "blocks."))]
    # the task's network less LayerNorm0 (2 × 128) and its 2 blocks (2 × (128² + 128 + 2 × 128))
    assert sum(sizes.values()) == 5_214_853 - 2 * 128 - 2 * (128 * 128 + 3 * 128)
    for bad in ({"linear": True}, {"linear": "yes", "n_blocks": 0}):
        with pytest.raises(ConfigError, match=r"^models\.fmri_mlp: linear"):
            DecoderConfig(**bad)
    with pytest.raises(ValueError, match="a linear FmriMlp has no residual blocks"):
        FmriMlp(7, 6, n_blocks=1, linear=True)


def test_dropout_masks_come_from_the_generator():
    net = build(7, 6, DecoderConfig(hidden=32)).train()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((5, 7, 4), dtype=np.float32))

    def run(seed):
        generator = torch.Generator().manual_seed(seed)
        return net(x, generator)

    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))
    assert torch.equal(net.eval()(x), net(x))  # no dropout in eval mode


# --- subject layers (setting subject_layers) ---------------------------------------------------


def test_subject_layers_are_off_by_default_and_add_a_layer_per_subject_before_lin0():
    plain = build(20_484, 1536, DecoderConfig())
    assert plain.subject_layers is None and not DecoderConfig().subject_layers
    assert not any(k.startswith("subject_layers") for k in plain.state_dict())
    net = build(20_484, 1536, DecoderConfig(subject_layers=True), n_subjects=4)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes["subject_layers.weight"] == (4, 20_484, 128)
    assert shapes["subject_layers.bias"] == (4, 128)
    assert shapes["lin0.weight"] == (128, 128)  # lin0 now maps the subject layer's output
    # the rest of the network as without the option
    assert {k: v for k, v in shapes.items() if not k.startswith(("subject", "lin0."))} == {
        k: tuple(v.shape) for k, v in plain.state_dict().items() if not k.startswith("lin0.")
    }
    n = sum(p.numel() for p in net.parameters())
    assert n == 5_214_853 - 20_484 * 128 + 128 * 128 + 4 * (20_484 * 128 + 128)
    with pytest.raises(DataError, match="need one subject index per trial, got None"):
        net(torch.zeros(2, 20_484, 4))
    with pytest.raises(DataError, match="subject_layers: expected ≥ 1 subject, got 0"):
        build(7, 6, DecoderConfig(subject_layers=True))
    with pytest.raises(ConfigError, match="subject_layers = 'yes'; expected true or false"):
        DecoderConfig(subject_layers="yes")


def subject_network(n_subjects: int = 3) -> FmriMlp:
    """A small FmriMlp with subject layers, every parameter moved off its initial value."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        net = FmriMlp(7, 6, hidden=5, n_blocks=2, n_trs=4, n_subjects=n_subjects).eval()
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def test_each_trial_goes_through_its_subjects_layer_as_a_direct_computation():
    """NumPy (float64) from the weights: trial b of subject s is z = W[s]ᵀ x_b[:, t] + c[s] for
    every TR t, then the network without subject layers (lin0 on z, …, head)."""
    net = subject_network()
    w = {k: v.double().numpy() for k, v in net.state_dict().items()}
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 7, 4))
    subjects = np.array([2, 0, 1, 2, 0, 0])

    def layer_norm(h, prefix):
        mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
        return (h - mu) / np.sqrt(var + 1e-5) * w[f"{prefix}.weight"] + w[f"{prefix}.bias"]

    def gelu(h):
        return 0.5 * h * (1 + erf(h / np.sqrt(2)))

    expected = np.empty((6, 6))
    for b, s in enumerate(subjects):
        per_tr = []
        for t in range(4):
            z = w["subject_layers.weight"][s].T @ x[b, :, t] + w["subject_layers.bias"][s]
            h = gelu(layer_norm(w["lin0.weight"] @ z + w["lin0.bias"], "norm0"))
            for i in range(2):
                lin = w[f"blocks.{i}.linear.weight"] @ h + w[f"blocks.{i}.linear.bias"]
                h = gelu(layer_norm(lin, f"blocks.{i}.norm")) + h
            per_tr.append(h)
        pooled = w["out_linear.weight"][0] @ np.array(per_tr) + w["out_linear.bias"][0]
        e = w["lin1.weight"] @ pooled + w["lin1.bias"]
        expected[b] = w["head.weight"] @ e + w["head.bias"]
    with torch.no_grad():
        got = net(torch.from_numpy(x).float(), None, torch.from_numpy(subjects)).double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # another subject gives another output: the layers differ
    with torch.no_grad():
        moved = net(torch.from_numpy(x).float(), None, torch.from_numpy((subjects + 1) % 3))
    assert not np.allclose(moved.numpy(), got, atol=1e-3)
    with pytest.raises(DataError, match=r"subject index 3; expected 0…2"):
        net(torch.from_numpy(x).float(), None, torch.tensor([0, 1, 2, 3, 0, 0]))


def test_the_per_subject_loop_equals_the_gathered_layers():
    """SubjectLayers' ``loop`` mode (fmri_mlp's) gives what ``gather`` (SimpleConvTimeAgg's)
    gives, values and gradients."""
    from bergforge.models.decoding.simple_conv import SubjectLayers

    torch.manual_seed(0)
    gather, loop = SubjectLayers(3, 9, 4), SubjectLayers(3, 9, 4, mode="loop")
    loop.load_state_dict(gather.state_dict())
    x = torch.randn(7, 9, 5, dtype=torch.float32)
    subjects = torch.tensor([1, 1, 0, 2, 1, 0, 2])
    a, b = gather(x, subjects), loop(x, subjects)
    torch.testing.assert_close(b, a)
    a.square().sum().backward()
    b.square().sum().backward()
    torch.testing.assert_close(loop.weight.grad, gather.weight.grad)
    torch.testing.assert_close(loop.bias.grad, gather.bias.grad)


def test_training_updates_only_the_layers_of_the_subjects_it_fits(tmp_path):
    """Subject 2's trials are validation only: with weight decay 0 its layer (rows of the same
    tensor) keeps its initial value while the others move; without the setting the subjects are
    ignored (the weights of a plain run)."""
    x, y = windows(120, noise=0.3)
    subjects = np.repeat([0, 1, 2], 40)
    fit = np.flatnonzero(subjects < 2)[:70]
    val = np.flatnonzero(subjects == 2)
    settings = {**SMALL, "max_epochs": 2, "patience": 2, "pct_start": 0.3, "weight_decay": 0.0}
    cfg = DecoderConfig.from_settings({**settings, "subject_layers": True}, {"device": "cpu"})
    trained = decoding_train.train_decoder(
        x, y, fit, val, cfg, CPU, tmp_path / "s.safetensors", "d", subjects=subjects
    )
    initial = build(30, 16, cfg, n_subjects=3).state_dict()["subject_layers.weight"].numpy()
    weight = trained.weights["subject_layers.weight"]
    assert weight.shape == (3, 30, 32)
    np.testing.assert_array_equal(weight[2], initial[2])
    assert not np.allclose(weight[0], initial[0]) and not np.allclose(weight[1], initial[1])
    with pytest.raises(DataError, match="subject_layers needs one subject index per sample"):
        decoding_train.train_decoder(x, y, fit, val, cfg, CPU, tmp_path / "t.safetensors", "d")
    plain_cfg = DecoderConfig.from_settings(settings, {"device": "cpu"})
    plain = [
        decoding_train.train_decoder(
            x, y, fit, val, plain_cfg, CPU, tmp_path / f"p{k}.safetensors", "d", subjects=given
        )
        for k, given in enumerate((None, subjects))
    ]
    assert as_bytes(plain[0].weights) == as_bytes(plain[1].weights)
    assert "subject_layers.weight" not in plain[0].weights


# --- loss and ranks --------------------------------------------------------------------------


@pytest.mark.parametrize("n_candidates", [8, 13])
def test_the_clip_loss_is_the_cross_entropy_of_scores_with_normalised_candidates(n_candidates):
    rng = np.random.default_rng(n_candidates)
    est = rng.standard_normal((8, 5)) * 3
    cand = rng.standard_normal((n_candidates, 5)) * rng.uniform(0.1, 10, (n_candidates, 1))
    s = est @ (cand / np.linalg.norm(cand, axis=1, keepdims=True)).T
    direct = np.mean([logsumexp(s[i]) - s[i, i] for i in range(8)])
    got = decoding_loss.clip_loss(torch.from_numpy(est), torch.from_numpy(cand))
    assert float(got) == pytest.approx(direct, rel=1e-12)
    # the candidates' norms do not matter, the estimates' do (no normalisation, scale 1)
    scaled = decoding_loss.clip_loss(torch.from_numpy(est), torch.from_numpy(cand * 7))
    assert float(scaled) == pytest.approx(direct, rel=1e-12)
    sharper = decoding_loss.clip_loss(torch.from_numpy(2 * est), torch.from_numpy(cand))
    assert float(sharper) != pytest.approx(direct, rel=1e-3)
    with pytest.raises(DataError, match="at least as many candidates as estimates"):
        decoding_loss.clip_loss(torch.from_numpy(est), torch.from_numpy(cand[:5]))


def test_in_batch_ranks_and_metrics_match_a_direct_loop():
    rng = np.random.default_rng(0)
    est = rng.standard_normal((40, 6))
    cand = est + 1.5 * rng.standard_normal((40, 6))
    cand[7] = cand[3]  # one image twice in the batch: ties
    est[30] = 0  # every score 0: all 40 tie, rank 19.5
    ranks = decoding_loss.true_ranks(torch.from_numpy(est), torch.from_numpy(cand))
    expected = numpy_ranks(est, cand)
    assert expected[30] == 19.5 and (expected % 1 == 0.5).sum() >= 3
    np.testing.assert_allclose(ranks.numpy(), expected, atol=1e-12)
    sums = decoding_loss.rank_sums(ranks)
    metrics = decoding_loss.metrics_of_sums(sums, 40)
    for k in (1, 5, 10):
        assert metrics[f"top{k}"] == pytest.approx(np.mean(expected < k))
    assert metrics["mean_rank"] == pytest.approx(expected.mean())
    # more candidates than estimates: the extra ones are negatives
    extra = decoding_loss.true_ranks(torch.from_numpy(est[:10]), torch.from_numpy(cand))
    np.testing.assert_allclose(extra.numpy(), numpy_ranks(est[:10], cand), atol=1e-12)


# --- training --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    return windows(120, noise=0.3)


def train(data, path, settings=None, hook=None, fit=None, val=None):
    x, y = data
    cfg = DecoderConfig.from_settings({**SMALL, **(settings or {})}, {"device": "cpu"})
    fit = np.arange(100) if fit is None else fit
    val = np.arange(100, 120) if val is None else val
    return decoding_train.train_decoder(x, y, fit, val, cfg, CPU, path, "data", hook)


def last_weights(into: dict):
    """A hook keeping the network's weights after each epoch (the last one stays)."""

    def keep(epoch, record, model):
        into.update({k: v.detach().numpy().tobytes() for k, v in model.state_dict().items()})

    return keep


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    last = {}
    trained = train(data, tmp_path_factory.mktemp("run") / "c.safetensors", hook=last_weights(last))
    assert trained.best_epoch > 3  # the kept epoch comes after the kill below
    return trained, last


def as_bytes(weights: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {k: v.tobytes() for k, v in weights.items()}


def test_two_cpu_runs_give_byte_identical_weights(data, uninterrupted, tmp_path):
    uninterrupted, last = uninterrupted
    again_last = {}
    again = train(data, tmp_path / "checkpoint.safetensors", hook=last_weights(again_last))
    assert again_last == last
    assert as_bytes(again.weights) == as_bytes(uninterrupted.weights)
    assert again.history == uninterrupted.history
    assert len(uninterrupted.history) == uninterrupted.epochs == 6
    other_seed = train(data, tmp_path / "seed.safetensors", {"seed": 34})
    assert as_bytes(other_seed.weights) != as_bytes(uninterrupted.weights)


def test_a_killed_training_resumes_to_the_uninterrupted_weights(
    data, uninterrupted, tmp_path, caplog
):
    uninterrupted, last = uninterrupted
    checkpoint = tmp_path / "checkpoint.safetensors"

    def stop_after_three(epoch, record, model):
        if epoch == 3:
            raise TrainingKilledError

    with pytest.raises(TrainingKilledError):
        train(data, checkpoint, hook=stop_after_three)
    assert checkpoint.is_file()
    resumed_last = {}
    with caplog.at_level(logging.INFO, logger="bergforge.models.decoding.train"):
        resumed = train(data, checkpoint, hook=last_weights(resumed_last))
    assert resumed_last == last
    assert "after epoch 3" in caplog.text and "epoch 4/6" in caplog.text
    assert "epoch 3/6" not in caplog.text.split("resumed")[1]
    assert as_bytes(resumed.weights) == as_bytes(uninterrupted.weights)
    assert resumed.history == uninterrupted.history  # lr schedule included
    # the finished run's checkpoint: a rerun trains no epoch and returns the same result
    rerun = train(data, checkpoint, hook=lambda *_: pytest.fail("an epoch ran"))
    assert as_bytes(rerun.weights) == as_bytes(uninterrupted.weights)
    assert rerun.history == uninterrupted.history and rerun.best_epoch == uninterrupted.best_epoch

    # a checkpoint of other settings (or other rows) is set aside: the run starts afresh
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bergforge.models.decoding.train"):
        fresh = train(data, checkpoint, fit=np.arange(1, 100))
    assert "other settings or data" in caplog.text and "resumed" not in caplog.text
    assert as_bytes(fresh.weights) != as_bytes(uninterrupted.weights)


def test_the_lr_follows_one_cycle_stepped_per_batch(uninterrupted):
    """The lr after each epoch is OneCycleLR's (cosine, max 1e-2, initial max/25, final
    initial/1e4, rising for 10 % of 6 epochs × 7 batches), written out here."""
    total, per_epoch, top = 6 * 7, math.ceil(100 / 16), 1e-2
    initial, final = top / 25, top / 25 / 1e4
    rise_end, end = 0.1 * total - 1, total - 1

    def anneal(start, stop, pct):
        return stop + (start - stop) / 2 * (math.cos(math.pi * pct) + 1)

    def lr_at(step):
        if step <= rise_end:
            return anneal(initial, top, step / rise_end)
        return anneal(top, final, (step - rise_end) / (end - rise_end))

    assert per_epoch == 7
    for record in uninterrupted[0].history:
        assert record["lr"] == pytest.approx(lr_at(record["epoch"] * per_epoch), rel=1e-9)


def test_early_stopping_keeps_the_best_epoch_by_validation_top5(tmp_path):
    """Targets unrelated to the inputs: the validation top-5 wanders, training stops `patience`
    epochs after its first maximum, and the weights kept are that epoch's; its top-5 is the one
    computed here from those weights, ranking within validation batches of 16 in order."""
    x, _ = windows(90, seed=1)
    y = np.random.default_rng(5).standard_normal((90, 16)).astype(np.float32)
    cfg = DecoderConfig(hidden=16, batch_size=16, max_epochs=30, patience=3, lr=3e-3)
    seen = {}

    def keep(epoch, record, model):
        seen[epoch] = {k: v.detach().clone().numpy() for k, v in model.state_dict().items()}

    fit, val = np.arange(50), np.arange(50, 90)
    trained = decoding_train.train_decoder(
        x, y, fit, val, cfg, CPU, tmp_path / "c.safetensors", "noise", keep
    )
    top5 = [h["val_top5"] for h in trained.history]
    assert trained.best_epoch == int(np.argmax(top5)) + 1 < trained.epochs < cfg.max_epochs
    assert trained.epochs == trained.best_epoch + cfg.patience
    assert trained.best_val_top5 == max(top5)
    assert as_bytes(trained.weights) == as_bytes(seen[trained.best_epoch])
    net = build(30, 16, cfg).eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in trained.weights.items()})
    with torch.no_grad():
        pred = net(torch.from_numpy(x[val])).numpy()
    ranks = np.concatenate(
        [numpy_ranks(pred[a : a + 16], y[val][a : a + 16]) for a in range(0, 40, 16)]
    )
    assert np.mean(ranks < 5) == pytest.approx(trained.best_val_top5)
    assert trained.history[trained.best_epoch - 1]["val_mean_rank"] == pytest.approx(ranks.mean())


def test_the_decoder_learns_a_synthetic_brain_to_embedding_mapping(tmp_path):
    """600 windows (200 features × 4 TRs) of 32-d latents; embeddings (64-d) linear in them. After
    training (defaults but lr 1e-3), 50 held-out windows retrieve their embedding among the 50
    (normalised) far above chance: top-5 ≥ 5 × chance (0.1), top-1 ≥ 10 × chance (0.02)."""
    x, y = windows(600, f=200, d=64, seed=2)
    cfg = DecoderConfig(lr=1e-3, max_epochs=25, device="cpu")
    trained = decoding_train.train_decoder(
        x, y, np.arange(500), np.arange(500, 550), cfg, CPU, tmp_path / "c.safetensors", "s"
    )
    net = build(200, 64, cfg).eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in trained.weights.items()})
    with torch.no_grad():
        pred = net(torch.from_numpy(x[550:])).numpy()
    ranks = numpy_ranks(pred, y[550:])
    assert np.mean(ranks < 5) >= 0.5 and np.mean(ranks < 1) >= 0.2
    untrained = build(200, 64, cfg).eval()
    with torch.no_grad():
        before = numpy_ranks(untrained(torch.from_numpy(x[550:])).numpy(), y[550:])
    assert ranks.mean() < before.mean() / 3


# --- the device ------------------------------------------------------------------------------


def test_the_device_setting_resolves_as_the_mlp_kinds(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert decoding_train.decoder_device(DecoderConfig(device="auto")).type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert decoding_train.decoder_device(DecoderConfig(device="auto")).type == "cpu"
    with pytest.raises(
        ConfigError, match="^models.fmri_mlp.device is 'cuda' but torch sees no CUDA device"
    ):
        decoding_train.decoder_device(DecoderConfig(device="cuda"))


def test_the_epoch_loop_makes_nothing_off_the_device(monkeypatch, tmp_path):
    """``train_decoder`` given host arrays and PyTorch's `meta` device (the stand-in for cuda:
    no data, so a read-back to the host would raise): the network, AdamW's moments, each
    epoch's dropout generator and every tensor two training epochs (loss, clipping, AdamW,
    OneCycleLR) and a validation pass make are on that device."""
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
    x, y = windows(40, f=12, d=8)
    cfg = DecoderConfig(hidden=8, batch_size=5, max_epochs=2)
    decoding_train.train_decoder(
        x, y, np.arange(30), np.arange(30, 40), cfg, meta, tmp_path / "c", "d"
    )
    assert generators == [meta, meta]
    assert all(p.device == meta for p in ran["model"].parameters())
    assert all(loss.device == meta and loss.shape == () for loss in ran["losses"])
    assert ran["sums"].device == meta and ran["sums"].shape == (4,)
    moments = [v for s in ran["optimizer"].state.values() for k, v in s.items() if k != "step"]
    assert len(moments) == 2 * len(list(ran["model"].parameters()))
    assert all(v.device == meta for v in moments)
    made = ran["made"]
    assert [name for name, _ in made.made].count("clamp") == 12  # clipping: once per batch
    assert len(made.made) > 200 and made.off(meta, ran["optimizer"]) == []


# --- bad input -------------------------------------------------------------------------------


def test_bad_inputs_are_one_clear_error_each(data, tmp_path):
    x, y = data
    checkpoint = tmp_path / "c.safetensors"
    with pytest.raises(DataError, match="^fmri_mlp: expected 4 TRs, got 5$"):
        train((np.concatenate([x, x[:, :, :1]], axis=2), y), checkpoint)
    with pytest.raises(DataError, match="expected float32"):
        train((x.astype(np.float64), y), checkpoint)
    with pytest.raises(DataError, match="as many samples"):
        train((x, y[:50]), checkpoint)
    with pytest.raises(DataError, match="validation rows within 0…119"):
        train(data, checkpoint, val=np.array([100, 120]))
    with pytest.raises(ConfigError, match="needs more than 10 optimizer steps, got 7"):
        train(data, checkpoint, {"max_epochs": 1})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['hiden'\]"):
        DecoderConfig.from_settings({"hiden": 3})
    with pytest.raises(ConfigError, match="time_agg = 'in_mean'"):
        DecoderConfig(time_agg="in_mean")
    assert not checkpoint.exists()
