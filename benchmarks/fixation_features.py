"""Fixation features two ways, side by side: crops through the backbone against gaze sampling.

In one process, on the same scenes (NSD-sized, 425 × 425 uint8) and fixations (``--fixations``
per scene, uniform on the scene, each with its next target; the last of a trial has none), the
same backbone (``--backbone``, default AlexNet with seeded random weights) and threads:

- *crops* (the anchor, :func:`bergforge.features.fixation_features.crop_features`): a foveal and
  a parafoveal crop of ``--size-deg`` degrees per fixation (30 px per degree), resized to the
  backbone's input and put through its inference path in batches of 64, each crop's map
  averaged over its cells: two forwards per fixation;
- *gaze sampling* (:func:`~bergforge.features.fixation_features.gaze_features_of`): one forward
  per scene (batches of 16 scenes), each fixation reading the map at its place and its next
  target's.

Prints fixations/s of each (the best of ``--repeats`` interleaved rounds) and gaze sampling's
speed-up over the crops (both give ``C`` foveal + ``C`` parafoveal values + ``has_next``). Their
accuracy: :mod:`bergforge.evaluation.fixation_loso` (README, "Free viewing").

    .venv/bin/python benchmarks/fixation_features.py
    .venv/bin/python benchmarks/fixation_features.py --scenes 8 --fixations 9 --repeats 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bergforge.datasets.screen import ScreenGeometry  # noqa: E402
from bergforge.features.fixation_crops import CropSpec  # noqa: E402
from bergforge.features.fixation_features import crop_features, gaze_features_of  # noqa: E402
from bergforge.features.models import build_backbone  # noqa: E402
from bergforge.features.registry import get_spec  # noqa: E402

SIDE = 425


def study(
    n_scenes: int, per_scene: int, seed: int = 0
) -> tuple[dict[int, np.ndarray], pd.DataFrame]:
    """Scenes ``{id: (H, W, 3) uint8}`` and the canonical fixation table (one trial per scene)."""
    rng = np.random.default_rng(seed)
    images = {s: rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8) for s in range(n_scenes)}
    rows = []
    for s in range(n_scenes):
        xy = rng.uniform(0, SIDE, (per_scene, 2))
        for k in range(per_scene):
            last = k == per_scene - 1
            rows.append(
                {
                    "scene": s,
                    "trial": s + 1,
                    "fixation": k,
                    "x": xy[k, 0],
                    "y": xy[k, 1],
                    "next_x": np.nan if last else xy[k + 1, 0],
                    "next_y": np.nan if last else xy[k + 1, 1],
                    "has_next": not last,
                }
            )
    return images, pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="alexnet_untrained")
    parser.add_argument("--layer", default="features.12", help="a layer with a spatial map")
    parser.add_argument("--scenes", type=int, default=32)
    parser.add_argument("--fixations", type=int, default=9, help="fixations per scene")
    parser.add_argument("--size-deg", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    backbone = build_backbone(get_spec(args.backbone))
    images, table = study(args.scenes, args.fixations)
    spec = CropSpec(size_deg=args.size_deg, out_size=224)
    geometry = ScreenGeometry(pixels_per_degree=30.0)
    best = {"crops": np.inf, "gaze sampling": np.inf}
    for _ in range(args.repeats):
        for name, run in (
            (
                "crops",
                lambda: crop_features(backbone, table, images, spec, geometry, args.layer)[1],
            ),
            (
                "gaze sampling",
                lambda: gaze_features_of(backbone, table, images, spec, args.layer)[1],
            ),
        ):
            began = time.perf_counter()
            features = run()
            best[name] = min(best[name], time.perf_counter() - began)
            width = features.shape[1]
        print(f"  round done: crops {best['crops']:.2f} s, gaze {best['gaze sampling']:.2f} s")
    n = len(table)
    print(
        f"{args.backbone} {args.layer}, {args.scenes} scenes × {args.fixations} fixations, "
        f"{args.threads} threads (gaze features: {width} per fixation)"
    )
    for name, seconds in best.items():
        print(f"  {name:14s} {n / seconds:9.1f} fixations/s  ({seconds:.2f} s)")
    print(f"  gaze sampling / crops: {best['crops'] / best['gaze sampling']:.1f}× faster")


if __name__ == "__main__":
    main()
