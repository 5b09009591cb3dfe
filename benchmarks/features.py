"""Feature extraction speed: full shard extraction next to the bare forward pass of the same model.

For each backbone, in the same process and on the same CPU threads:
- *forward*: the node extractor on ready-made batches (the anchor: what the model alone costs);
- *full*: ``write_shard`` on JPEG files — decode (PIL, worker threads) + transform + forward + Zarr write.
Both at batch 32; the script prints images/s and full/forward (should be ≥ 0.8), by wall-clock
time and by process CPU time (the second is steadier when other jobs share the cores).

Run: ``.venv/bin/python benchmarks/features.py [--images 256] [--size 500] [--threads 2]
[--device cuda]``. On ``cuda`` the forward is timed with the device drained before and after, and
the full extraction decodes on ``--threads`` worker threads while the GPU runs (the CPU-time
column is then the host's share, not a speed).
Images are 500 px JPEGs by default (the size of THINGS-EEG2's images), drawn by the demo simulator.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from throughput import synchronize

from bergforge.features.extract import forward_layers
from bergforge.features.images import load_rgb
from bergforge.features.models import build_backbone
from bergforge.features.registry import get_spec
from bergforge.features.writer import ExtractionSettings, write_shard
from bergforge.simulate.images import draw_image, make_concepts, save_jpeg

BACKBONES = {"alexnet_untrained": {}, "vit_b_32": {"weights": "none"}}


def make_images(folder: Path, n: int, size: int) -> list[Path]:
    """``n`` demo JPEGs of ``size`` px (natural-like textures, shapes, gratings)."""
    concepts = make_concepts(8, seed=1)
    files = []
    for k in range(n):
        path = folder / f"img{k:04d}.jpg"
        save_jpeg(draw_image(concepts[k % len(concepts)], 1, k, size), path)
        files.append(path)
    return files


def bare_forward(backbone, batch: torch.Tensor, n_batches: int) -> tuple[float, float]:
    """Images/s of the node extractor alone on a ready batch (wall clock, CPU time)."""
    forward_layers(backbone, batch)  # warm-up
    synchronize(batch.device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n_batches):
        with torch.inference_mode():
            backbone.module(batch)
    synchronize(batch.device)
    n = n_batches * len(batch)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def full_extraction(
    backbone, files: list[Path], out: Path, threads: int, batch: int, device: str = "cpu"
) -> tuple[float, float]:
    """Images/s of decode + transform + forward + write into one shard (wall clock, CPU time)."""
    settings = ExtractionSettings(shard_size=len(files), batch_size=batch, device=device)
    wall, cpu = time.perf_counter(), time.process_time()
    write_shard(
        backbone, files, [f.stem for f in files], range(len(files)), (1, 1), out, settings, threads
    )
    n = len(files)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="images for AlexNet (ViT: 1/2)")
    parser.add_argument("--size", type=int, default=500, help="JPEG side length (px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs each")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, "
        f"{args.size} px JPEGs, device {where}"
    )
    header = f"{'backbone':<20}{'images':>7}{'clock':>6}{'forward img/s':>15}{'full img/s':>12}"
    print(header + f"{'full/forward':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_images(Path(tmp), args.images, args.size)
        for name, overrides in BACKBONES.items():
            backbone = build_backbone(get_spec(name, overrides), args.device)
            n_images = args.images if name.startswith("alexnet") else args.images // 2
            subset = files[: max(args.batch, n_images)]
            batch = torch.stack([backbone.transform(load_rgb(f)) for f in subset[: args.batch]])
            batch = batch.to(args.device)
            n_batches = len(subset) // args.batch
            forward, full = [], []
            for _ in range(args.repeats):
                forward.append(bare_forward(backbone, batch, n_batches))
                out = Path(tmp) / f"{name}-{len(full)}.zarr"
                full.append(
                    full_extraction(backbone, subset, out, args.threads, args.batch, args.device)
                )
            for k, clock in enumerate(("wall", "cpu")):
                best_forward = max(f[k] for f in forward)
                best_full = max(f[k] for f in full)
                label = name if k == 0 else ""
                print(
                    f"{label:<20}{len(subset):>7}{clock:>6}{best_forward:>15.1f}"
                    f"{best_full:>12.1f}{best_full / best_forward:>14.2f}"
                )
            walls = [round(f[0], 1) for f in forward], [round(f[0], 1) for f in full]
            print(f"{'':<20}wall runs: forward {walls[0]}, full {walls[1]}")


if __name__ == "__main__":
    main()
