"""CNN8 multi-head encoder: architecture, learning on tiny simulated data, resumable training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bergforge.errors import DataError
from bergforge.models.cnn8.network import CNN8Core, MultiHeadEncoder, core_output_size
from bergforge.models.cnn8.train import (
    SubjectData,
    TrainConfig,
    epoch_batches,
    predict,
    train_multihead,
)

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _images(rng: np.random.Generator, n: int) -> torch.Tensor:
    """Smooth random colour images (n, 3, SIZE, SIZE), roughly zero mean and unit SD."""
    coarse = rng.normal(0, 1, (n, 3, 5, 5)).astype(np.float32)
    img = torch.nn.functional.interpolate(torch.from_numpy(coarse), size=SIZE, mode="bilinear")
    return img


def _responses(images: torch.Tensor, rng: np.random.Generator, n_vertices: int, noise: float):
    """Each vertex: a colour-weighted sum of the image under a Gaussian window, plus noise."""
    yy, xx = np.mgrid[:SIZE, :SIZE] / SIZE
    centres = rng.uniform(0.2, 0.8, (n_vertices, 2))
    windows = np.exp(
        -((yy[None] - centres[:, :1, None]) ** 2 + (xx[None] - centres[:, 1:, None]) ** 2) / 0.02
    )
    colour = rng.normal(0, 1, (n_vertices, 3))
    x = images.numpy()
    clean = np.einsum("nchw,vhw,vc->nv", x, windows, colour)
    clean = (clean - clean.mean(0)) / clean.std(0)
    return torch.from_numpy((clean + rng.normal(0, noise, clean.shape)).astype(np.float32))


def _study(seed: int, n_train: int = 128, n_test: int = 48, n_vertices: int = 12):
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for s in (1, 2):
        imgs = _images(rng, n_train + n_test)
        resp = _responses(imgs, rng, n_vertices, noise=0.5)
        name = f"sub-0{s}_NSD"
        train[name] = SubjectData(imgs[:n_train], resp[:n_train])
        test[name] = SubjectData(imgs[n_train:], resp[n_train:])
    return train, test


CFG = TrainConfig(width=8, input_size=SIZE, lr=3e-3, batch_size=16, max_epochs=8, seed=5)


def _mean_test_r(model, test) -> float:
    rs = []
    for name, d in test.items():
        pred = predict(model, d.images, name)
        y = d.responses.numpy()
        pc, yc = pred - pred.mean(0), y - y.mean(0)
        rs.append((pc * yc).sum(0) / np.sqrt((pc**2).sum(0) * (yc**2).sum(0)))
    return float(np.mean(np.concatenate(rs)))


def test_core_shape_and_size():
    assert core_output_size(224) == 26
    core = CNN8Core(width=384)
    assert sum(p.numel() for p in core.parameters()) == pytest.approx(11.68e6, rel=0.01)
    small = CNN8Core(width=8)
    assert small(torch.zeros(2, 3, SIZE, SIZE)).shape == (
        2,
        8,
        core_output_size(SIZE),
        core_output_size(SIZE),
    )
    convs = [m for m in small.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 5, 3, 3, 3, 3, 3, 3]
    assert all(c.bias is None for c in convs)
    model = MultiHeadEncoder({"sub-01_NSD": 5, "sub-02_NSD": 7}, width=8, input_size=SIZE)
    out = model.forward_all(torch.zeros(3, 3, SIZE, SIZE))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "sub-01_NSD": (3, 5),
        "sub-02_NSD": (3, 7),
    }
    with pytest.raises(DataError, match="unknown subject head"):
        model(torch.zeros(1, 3, SIZE, SIZE), "sub-09_NSD")
    with pytest.raises(DataError, match="too small"):
        core_output_size(10)


def test_batches_mix_subjects_and_cover_training_set():
    idx = {"sub-01_NSD": np.arange(50), "sub-02_NSD": np.arange(30)}
    batches = epoch_batches(idx, 16, seed=1, epoch=0)
    assert [sum(r.size for _, r in b) for b in batches] == [16] * 5
    assert any(len(b) == 2 for b in batches)
    seen = {n: np.sort(np.concatenate([r for b in batches for m, r in b if m == n])) for n in idx}
    for n in idx:
        np.testing.assert_array_equal(seen[n], idx[n])
    other = epoch_batches(idx, 16, seed=1, epoch=1)
    assert [[(n, r.tolist()) for n, r in b] for b in batches] != [
        [(n, r.tolist()) for n, r in b] for b in other
    ]


def test_trained_model_beats_shuffled_pairing(tmp_path):
    train, test = _study(0)
    model, info = train_multihead(train, CFG, tmp_path / "real.pt")
    rng = np.random.default_rng(1)
    shuffled = {
        n: SubjectData(d.images, d.responses[rng.permutation(len(d.responses))])
        for n, d in train.items()
    }
    control, _ = train_multihead(shuffled, CFG, tmp_path / "shuffled.pt")
    r_real, r_control = _mean_test_r(model, test), _mean_test_r(control, test)
    assert r_real > 0.2
    assert r_real > r_control + 0.15
    assert info["epochs"] >= 1 and np.isfinite(info["best_val_loss"])


class _KilledError(Exception):
    pass


def test_killed_and_resumed_training_matches_uninterrupted(tmp_path):
    train, _ = _study(2, n_train=96, n_vertices=6)
    cfg = TrainConfig(width=8, input_size=SIZE, lr=3e-3, batch_size=32, max_epochs=4, seed=9)
    full, _ = train_multihead(train, cfg, tmp_path / "full.pt")

    def kill_after_two(epoch: int, _loss: float) -> None:
        if epoch == 2:
            raise _KilledError

    with pytest.raises(_KilledError):
        train_multihead(train, cfg, tmp_path / "resumed.pt", on_epoch_end=kill_after_two)
    assert torch.load(tmp_path / "resumed.pt", weights_only=True)["state"]["epoch"] == 2
    resumed, info = train_multihead(train, cfg, tmp_path / "resumed.pt")
    assert info["epochs"] == 4
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    assert not list(tmp_path.glob(".*partial"))


def test_training_begun_on_another_device_resumes_here(tmp_path):
    # models.cnn8.device is a runtime setting: a checkpoint from a GPU run resumes on the CPU
    train, _ = _study(2, n_train=16, n_vertices=3)
    cfg = TrainConfig(width=8, input_size=SIZE, batch_size=8, max_epochs=2, seed=3)

    def kill_after_one(epoch: int, _loss: float) -> None:
        raise _KilledError

    with pytest.raises(_KilledError):
        train_multihead(train, cfg, tmp_path / "c.pt", on_epoch_end=kill_after_one)
    saved = torch.load(tmp_path / "c.pt", weights_only=True)
    saved["config"]["device"] = "cuda"  # as if epoch 1 had run on a GPU
    torch.save(saved, tmp_path / "c.pt")
    _, info = train_multihead(train, cfg, tmp_path / "c.pt")
    assert info["epochs"] == 2 and len(info["history"]) == 2
    saved["config"]["lr"] = 1.0  # a hyperparameter still has to match
    torch.save(saved, tmp_path / "c.pt")
    with pytest.raises(DataError, match="another configuration"):
        train_multihead(train, cfg, tmp_path / "c.pt")


def test_bad_training_inputs(tmp_path):
    train, _ = _study(3, n_train=8, n_test=2, n_vertices=3)
    bad = {
        "sub-01_NSD": SubjectData(
            train["sub-01_NSD"].images[:, :, :20, :20], train["sub-01_NSD"].responses
        )
    }
    with pytest.raises(DataError, match="expected images"):
        train_multihead(bad, CFG, tmp_path / "x.pt")
    nan = train["sub-01_NSD"].responses.clone()
    nan[0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        train_multihead(
            {"sub-01_NSD": SubjectData(train["sub-01_NSD"].images, nan)}, CFG, tmp_path / "x.pt"
        )
    train_multihead(train, TrainConfig(width=8, input_size=SIZE, max_epochs=1), tmp_path / "y.pt")
    with pytest.raises(DataError, match="another configuration"):
        train_multihead(
            train, TrainConfig(width=8, input_size=SIZE, max_epochs=2, lr=1e-3), tmp_path / "y.pt"
        )
