"""Training throughput of the ``fmri_mlp`` decoder next to a bare forward + backward + AdamW loop.

In one process, on the same tensors (windows of ``features`` × ``trs`` float32 → ``out``-d
embeddings), the same network (``FmriMlp`` with the task's settings: hidden 128, 2 residual
blocks, dropout 0.5 / 0.15, out_linear time aggregation, a Linear head), the same threads and
batches of 64, three loops over the fitted samples (90 %; the last 10 % are held out), each from
the same freshly seeded network:

- *bare*: the network as plain PyTorch modules (``nn.Dropout``, the same initial weights) on
  contiguous batches (views, no shuffling, no gather), the CLIP loss written inline,
  ``zero_grad`` / ``backward`` / ``AdamW.step``: what the network alone costs (the anchor);
- *decoder epoch*: what :func:`bergforge.models.decoding.train.train_decoder` runs per epoch
  (``epoch_order`` → ``dropout_generator`` → ``run_epoch``: shuffled batches gathered from the
  full arrays, seeded dropout masks, gradient clipping, OneCycleLR stepped per batch; then the
  epoch's one read-back of its loss);
- *decoder fit*: ``train_decoder`` itself for one epoch: the above plus the validation pass
  (in-batch ranks) over the held-out 10 %, the best-epoch copy and the atomic checkpoint
  (samples/s count the fitted samples only, so those are overhead here).

Prints samples/s of each (wall clock; on the CPU also process CPU time; the best of
``--repeats`` interleaved rounds) and each decoder loop's ratio to the bare loop, with
``[ok]``/``[FAIL]`` against 0.8 (the bar is on *decoder epoch*; *decoder fit* is printed with the
same bar for information).

    .venv/bin/python benchmarks/decoder_throughput.py            # 4,803 × 20,484 × 4 → 1536 (1.6 GB)
    .venv/bin/python benchmarks/decoder_throughput.py --quick    # 1,200 × 2,000 × 4 → 256
    .venv/bin/python benchmarks/decoder_throughput.py --device cuda
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from throughput import report, rounds
from torch import nn
from torch.nn import functional

from bergforge.models.decoding.network import build
from bergforge.models.decoding.settings import DecoderConfig
from bergforge.models.decoding.train import one_cycle, run_epoch, train_decoder
from bergforge.models.mlp.train import dropout_generator, epoch_order, resolve_device

FULL = {"samples": 4_803, "features": 20_484, "trs": 4, "out": 1536}
QUICK = {"samples": 1_200, "features": 2_000, "trs": 4, "out": 256}
BAR = 0.8


def make_data(n: int, f: int, t: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal windows and embeddings (float32); their values do not change the cost."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, f, t), dtype=np.float32), rng.standard_normal(
        (n, d), dtype=np.float32
    )


class Bare(nn.Module):
    """The decoder's network as plain PyTorch modules (parameter names as ``FmriMlp``'s)."""

    def __init__(self, f: int, t: int, d: int, cfg: DecoderConfig) -> None:
        super().__init__()
        self.lin0, self.norm0 = nn.Linear(f, cfg.hidden), nn.LayerNorm(cfg.hidden)
        self.drop0, self.drop = nn.Dropout(cfg.dropout_in), nn.Dropout(cfg.dropout_blocks)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {"linear": nn.Linear(cfg.hidden, cfg.hidden), "norm": nn.LayerNorm(cfg.hidden)}
            )
            for _ in range(cfg.n_blocks)
        )
        self.out_linear = nn.Linear(t, 1)
        self.lin1, self.head = nn.Linear(cfg.hidden, d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop0(functional.gelu(self.norm0(self.lin0(x.transpose(1, 2)))))
        for block in self.blocks:
            h = self.drop(functional.gelu(block["norm"](block["linear"](h)))) + h
        return self.head(self.lin1(self.out_linear(h.transpose(1, 2)).squeeze(2)))


def bare_loop(cfg, xt, yt, n_fit: int, device) -> Callable[[], None]:
    """Forward + CLIP loss + backward + AdamW over contiguous batches of the first ``n_fit`` rows."""
    model = Bare(xt.shape[1], xt.shape[2], yt.shape[1], cfg)
    model.load_state_dict(build(xt.shape[1], yt.shape[1], cfg).state_dict())
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def run() -> None:
        for start in range(0, n_fit, cfg.batch_size):
            stop = min(start + cfg.batch_size, n_fit)
            target = yt[start:stop]
            s = model(xt[start:stop]) @ (target / (target.norm(dim=1, keepdim=True) + 1e-15)).T
            loss = functional.cross_entropy(s, torch.arange(stop - start, device=device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        float(loss.detach())  # as the decoder reads its epoch loss back once

    return run


def decoder_epoch(cfg, xt, yt, fit_rows: torch.Tensor, device) -> Callable[[], None]:
    """One training epoch as ``train_decoder`` runs it (its ``train_epoch`` and the read-back)."""
    model = build(xt.shape[1], yt.shape[1], cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.max_epochs * math.ceil(fit_rows.shape[0] / cfg.batch_size)
    scheduler = one_cycle(optimizer, cfg, steps)

    def run() -> None:
        order = epoch_order(fit_rows, cfg.seed, 0)
        generator = dropout_generator(cfg.seed, 0, device)
        loss = run_epoch(
            model, optimizer, scheduler, xt, yt, order, cfg.batch_size, generator, cfg.grad_clip
        )
        float(loss)

    return run


def decoder_fit(cfg, x, y, fit, val, device, folder: Path) -> Callable[[], None]:
    """``train_decoder`` for one epoch (validation pass and checkpoint included)."""
    one = replace(cfg, max_epochs=1)
    checkpoint = folder / "checkpoint.safetensors"

    def run() -> None:
        checkpoint.unlink(missing_ok=True)  # a fresh training, not a resumed one
        train_decoder(x, y, fit, val, one, device, checkpoint, "benchmark")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    for name in FULL:
        parser.add_argument(f"--{name}", type=int, help=f"default {FULL[name]:,}")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds (best is kept)")
    args = parser.parse_args()
    sizes = {k: getattr(args, k) or (QUICK if args.quick else FULL)[k] for k in FULL}
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    cfg = DecoderConfig(n_trs=sizes["trs"], device=device.type)

    x, y = make_data(sizes["samples"], sizes["features"], sizes["trs"], sizes["out"])
    n_fit = int(round(0.9 * len(x)))
    fit, val = np.arange(n_fit), np.arange(n_fit, len(x))
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    fit_rows = torch.from_numpy(fit).to(device)
    params = sum(p.numel() for p in build(x.shape[1], y.shape[1], cfg).parameters())
    print(
        f"device {device}, {torch.get_num_threads()} threads; {len(x):,} samples ({n_fit:,} "
        f"fitted, {val.size:,} held out) × {x.shape[1]:,} features × {x.shape[2]} TRs → "
        f"{y.shape[1]:,} ({params / 1e6:.2f} M parameters), batch {cfg.batch_size}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        loops = {
            "bare": lambda: bare_loop(cfg, xt, yt, n_fit, device),
            "decoder epoch": lambda: decoder_epoch(cfg, xt, yt, fit_rows, device),
            "decoder fit": lambda: decoder_fit(cfg, x, y, fit, val, device, Path(tmp)),
        }
        # warm-up (allocator, thread pools, AdamW's state) on a few batches of each path
        few = min(n_fit, 4 * cfg.batch_size)
        bare_loop(cfg, xt, yt, few, device)()
        decoder_epoch(cfg, xt, yt, fit_rows[:few], device)()
        times = rounds(loops, args.repeats, device)

    report(times, n_fit, device, ("decoder epoch", "decoder fit"), BAR, 14)


if __name__ == "__main__":
    main()
