"""Tiny stimulus sets for the features tests: small demo JPEGs and a stimuli.tsv that lists them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bergforge.simulate.images import draw_image, make_concepts, save_jpeg


def make_stimuli(root: Path, n_images: int, size: int = 72, seed: int = 3) -> Path:
    """Write ``n_images`` JPEGs under ``root/images`` and ``root/stimuli.tsv`` (paths relative to root)."""
    concepts = make_concepts(4, seed)
    rows = []
    n_train = n_images - max(1, n_images // 4)
    for k in range(n_images):
        concept = concepts[k % len(concepts)]
        rel = Path("images") / f"{concept.name}_{k:03d}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        save_jpeg(draw_image(concept, seed, k, size), root / rel)
        split = "train" if k < n_train else "test"
        index = k if k < n_train else k - n_train
        rows.append(
            {
                "image_id": f"img{k:03d}",
                "split": split,
                "index": index,
                "concept": concept.name,
                "file": rel.as_posix(),
            }
        )
    table = root / "stimuli.tsv"
    pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
    return table
