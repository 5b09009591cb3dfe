"""Small synthetic inputs of the encoding stage: a prepared Zarr store, stimuli and features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from bergforge.store_checksums import seal_store


def write_prepared(
    path: Path,
    train: np.ndarray,
    test: np.ndarray,
    modality: str = "meg",
    subject: int = 1,
    chunk: int = 8,
) -> Path:
    """A prepared store as docs/interfaces.md describes (``[image, repetition, channel, time]``)."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    for name, data in (("train", train), ("test", test)):
        arr = group.create_array(
            name,
            shape=data.shape,
            chunks=(chunk, *data.shape[1:]),
            dtype="float32",
            fill_value=np.nan,
        )
        arr[:] = data.astype(np.float32)
        present = ~np.isnan(data.reshape(*data.shape[:2], -1)).all(axis=2)
        sessions = np.where(present, 1, -1).astype(np.int16)
        group.create_array(f"{name}_session", shape=sessions.shape, dtype="int16")[:] = sessions
    group.attrs.update(
        {
            "modality": modality,
            "subject": subject,
            "dims": ["image", "repetition", "channel", "time"],
            "channels": [f"C{i}" for i in range(train.shape[2])],
        }
    )
    seal_store(path)  # its checksums, written last, as every store writer does
    return path


def stimuli_table(n_train: int, n_test: int) -> pd.DataFrame:
    """stimuli.tsv rows: training images first, then test images."""
    return pd.DataFrame(
        {
            "image_id": [f"train_{i}" for i in range(n_train)]
            + [f"test_{i}" for i in range(n_test)],
            "split": ["train"] * n_train + ["test"] * n_test,
            "index": list(range(n_train)) + list(range(n_test)),
            "concept": ["c"] * (n_train + n_test),
            "file": [f"img_{i}.jpg" for i in range(n_train + n_test)],
        }
    )


def linear_problem(
    n_train: int = 60,
    n_test: int = 12,
    n_features: int = 300,
    n_latents: int = 5,
    shape: tuple[int, int] = (4, 6),
    train_reps: int = 1,
    test_reps: int = 4,
    noise: float = 0.3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (images × features, train then test) and noisy trials linear in their latents."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    latents = rng.standard_normal((n, n_latents))
    features = latents @ rng.standard_normal((n_latents, n_features))
    features += 0.5 * rng.standard_normal((n, n_features))
    weights = rng.standard_normal((n_latents, int(np.prod(shape))))
    true = (latents @ weights).reshape(n, *shape)

    def trials(rows: slice, reps: int) -> np.ndarray:
        t = true[rows][:, None]
        return t + noise * rng.standard_normal((t.shape[0], reps, *shape))

    train = trials(slice(0, n_train), train_reps)
    test = trials(slice(n_train, n), test_reps)
    return features.astype(np.float32), train, test
