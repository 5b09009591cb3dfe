"""Synthetic inputs of the encoding stage in the real layout, written by bergforge's own writers.

- feature shards: :func:`bergforge.features.writer.write_shard` driven by a stand-in backbone that
  has ViT-B/32's spec and layer shapes (12 layers × 50 tokens × 768) but returns random values,
  so a shard is written exactly as the features stage writes it, without running the network;
- prepared MEG/EEG stores: :func:`bergforge.preprocess.store.atomic_store` and
  :func:`~bergforge.preprocess.store.write_split_arrays` over staged random epochs;
- ``stimuli.tsv``: :func:`bergforge.preprocess.stimuli.write_stimuli_table`;
- trial-indexed stores of random float32 windows (the decoders' inputs):
  :func:`bergforge.preprocess.trials_store.write_trial_store`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TOKENS, WIDTH = 50, 768  # ViT-B/32 at 224 px: 49 patches + the class token, 768 channels
SHARD_SIZE = 1000
EPOCHS_PER_UNIT = 1000


def stimuli_table(n_train: int, n_test: int) -> pd.DataFrame:
    """``stimuli.tsv`` rows: training images, then test images."""
    ids = [f"train_{i:05d}" for i in range(n_train)] + [f"test_{i:03d}" for i in range(n_test)]
    return pd.DataFrame(
        {
            "image_id": ids,
            "split": ["train"] * n_train + ["test"] * n_test,
            "index": list(range(n_train)) + list(range(n_test)),
            "concept": [f"c{k // 10:05d}" for k in range(n_train + n_test)],
            "file": [f"images/{i}.jpg" for i in ids],
        }
    )


def write_stimuli(path: Path, n_train: int, n_test: int) -> pd.DataFrame:
    from bergforge.preprocess.stimuli import write_stimuli_table

    table = stimuli_table(n_train, n_test)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_stimuli_table(table, path)
    return table


class _RandomImages:
    """An image source of ``n`` 1-pixel images (the stand-in backbone ignores them)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def load(self, index: int):
        from PIL import Image

        return Image.new("RGB", (1, 1))

    def close(self) -> None:
        pass


def standin_vit(seed: int = 0):
    """A :class:`~bergforge.features.models.Backbone` with ViT-B/32's spec and output shapes."""
    import torch
    from torch import nn

    from bergforge.features.models import Backbone
    from bergforge.features.registry import NO_WEIGHTS, get_spec

    spec = get_spec("vit_b_32", {"weights": NO_WEIGHTS})

    class RandomLayers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.anchor = nn.Parameter(torch.zeros(1))
            self.generator = torch.Generator().manual_seed(seed)

        def forward(self, batch):
            n = batch.shape[0]
            return {
                k: torch.rand((n, TOKENS, WIDTH), generator=self.generator) for k in spec.layers
            }

    def transform(image):
        return torch.zeros(3, 1, 1)

    return Backbone(spec, RandomLayers(), transform, {"weights": NO_WEIGHTS, "standin": True})


def write_features(folder: Path, image_ids: list[str], dtype: str = "float32") -> Path:
    """Feature shards of ``SHARD_SIZE`` rows and their ``features.json`` (random values)."""
    from bergforge.features.manifest_job import write_manifest
    from bergforge.features.plan import shard_count, shard_name
    from bergforge.features.writer import ExtractionSettings, write_shard

    settings = ExtractionSettings(shard_size=SHARD_SIZE, dtype=dtype, batch_size=64, device="cpu")
    backbone = standin_vit()
    n = len(image_ids)
    n_shards = shard_count(n, SHARD_SIZE)
    shards = []
    for k in range(1, n_shards + 1):
        rows = range((k - 1) * SHARD_SIZE, min(k * SHARD_SIZE, n))
        out = folder / shard_name(k, n_shards)
        ids = image_ids[rows.start : rows.stop]
        write_shard(backbone, _RandomImages(len(rows)), ids, rows, (k, n_shards), out, settings, 1)
        shards.append(out)
    manifest = folder / "features.json"
    write_manifest(shards, manifest)
    return manifest


def sensor_names(modality: str) -> list[str]:
    """THINGS-MEG1's 271 CTF sensors (the bad one dropped) or THINGS-EEG2's 63 EEG channels."""
    from bergforge.datasets.sensors import BAD_MEG_SENSOR, EEG_CHANNELS, meg_sensor_names

    if modality == "meg":
        return [n for n in meg_sensor_names() if n != BAD_MEG_SENSOR]
    return list(EEG_CHANNELS)


def write_things_store(
    path: Path,
    modality: str,
    n_train: int,
    train_reps: int,
    n_test: int,
    test_reps: int,
    n_channels: int,
    n_times: int,
    seed: int = 0,
    subject: int = 1,
) -> Path:
    """A prepared MEG/EEG store ``[image, repetition, channel, time]`` of random responses of
    ``subject``, sorted and written by the preprocessing stage's own code (staged units of
    epochs)."""
    from bergforge import __version__
    from bergforge.preprocess.store import (
        EpochBlock,
        EpochStaging,
        atomic_store,
        write_attributes,
        write_split_arrays,
    )

    rng = np.random.default_rng(seed)
    channels = sensor_names(modality)[:n_channels]
    times = np.round(-0.1 + np.arange(n_times) / 200.0, 6)
    split = np.concatenate(
        [np.full(n_train * train_reps, "train"), np.full(n_test * test_reps, "test")]
    )
    index = np.concatenate(
        [np.tile(np.arange(n_train), train_reps), np.tile(np.arange(n_test), test_reps)]
    )
    session = np.concatenate(
        [np.repeat(np.arange(train_reps), n_train), np.repeat(np.arange(test_reps), n_test)]
    )
    with atomic_store(path) as (group, staging_dir):
        staging = EpochStaging(staging_dir)
        for start in range(0, split.size, EPOCHS_PER_UNIT):
            part = slice(start, start + EPOCHS_PER_UNIT)
            n = split[part].size
            staging.add(
                EpochBlock(
                    data=rng.standard_normal((n, n_channels, n_times), dtype=np.float32),
                    split=split[part],
                    index=index[part],
                    channels=channels,
                    times=times,
                    session=session[part] + 1,
                    run=np.ones(n, dtype=int),
                    source="scale harness",
                )
            )
        write_split_arrays(group, staging, {"train": n_train, "test": n_test}, {}, 8.0)
        write_attributes(
            group,
            {
                "modality": modality,
                "dataset": f"things_{modality}",
                "subject": subject,
                "dims": ["image", "repetition", "channel", "time"],
                "channels": channels,
                "ch_type": "mag" if modality == "meg" else "csd",
                "times": times,
                "sfreq": 200.0,
                "baseline_mode": "zscore" if modality == "meg" else "mean",
                "preprocessing": {"source": "scale harness (random responses)"},
                "bergforge_version": __version__,
            },
        )
    return path


def random_trial_store(
    path: Path,
    table: pd.DataFrame,
    subject: int,
    coords: dict[str, list],
    block: int = 256,
    **attributes,
) -> None:
    """A subject's trial-indexed store of standard-normal float32 windows (one per table row,
    shaped by ``coords``: a dim per key, in order), written in blocks of ``block`` trials;
    ``attributes``: the rest of :func:`~bergforge.preprocess.trials_store.write_trial_store`'s
    keywords (modality, dataset, sampling_period, preprocessing)."""
    from bergforge.preprocess.trials_store import write_trial_store

    rng = np.random.default_rng(subject)
    shape = tuple(len(v) for v in coords.values())

    def blocks():
        for start in range(0, len(table), block):
            n = min(block, len(table) - start)
            yield rng.standard_normal((n, *shape), dtype=np.float32)

    write_trial_store(
        path,
        table.reset_index(drop=True),
        blocks(),
        subject=subject,
        dims=["trial", *coords],
        coords=coords,
        **attributes,
    )
