"""A tiny decoding study on disk: trial-indexed stores of two subjects, stimuli and features.

Every image has a known embedding ``E[image]`` (the features, one layer); a trial's window is a
known linear map of its image's embedding, ``x[v, t] = (E @ W_s)[v] · h[t]`` (``W_s`` the
shared map plus a small subject part, ``h`` an HRF-like profile over the TRs), plus Gaussian
noise. Test images are shown ``TEST_REPS`` times per subject, the others ``TRAIN_REPS`` times;
validation = the non-test trials of each subject's last two runs (of 8). Written by the real writers
(``write_trial_store``, the stimulus table's writer) and hand-made feature shards sealed as the
features stage seals its own, so every reader checks them as in a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from bergforge.models.kind import FitRequest
from bergforge.preprocess.stimuli import write_stimuli_table
from bergforge.preprocess.trials_store import write_trial_store
from bergforge.store_checksums import seal_store

N_IMAGES, N_TEST, DIMS, VERTICES, TRS = 40, 8, 16, 60, 4
TEST_REPS, TRAIN_REPS, RUN_LENGTH = 3, 2, 11
PROFILE = np.array([0.2, 1.0, 0.7, 0.3])


@dataclass
class Study:
    root: Path
    stores: list[Path]
    subjects: tuple[int, ...]
    stimuli: Path
    features: Path  # features.json
    embeddings: np.ndarray  # [image, dims] float32, rows in stimuli order
    image_ids: list[str]
    test_ids: list[str]

    def request(self, settings: dict | None = None, **changes) -> FitRequest:
        values = dict(
            dataset="b5k",
            modality="fmri",
            subjects=self.subjects,
            split="all",
            prepared=tuple(self.stores),
            stimuli=self.stimuli,
            features=self.features,
            settings=dict(settings or {}),
            threads=1,
        )
        values.update(changes)
        return FitRequest(**values)


def write_features(folder: Path, embeddings: np.ndarray, image_ids: list[str]) -> Path:
    """Two feature shards of one layer ``emb`` and their ``features.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    half = len(embeddings) // 2
    names = []
    for k, (start, stop) in enumerate(((0, half), (half, len(embeddings))), 1):
        path = folder / f"shard-{k}-of-2.zarr"
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        group.attrs.update(
            {
                "layers": ["emb"],
                "layer_sizes": [embeddings.shape[1]],
                "rows": [start, stop],
                "shard": [k, 2],
                "image_ids": image_ids[start:stop],
                "backbone": "toy",
                "dtype": "float32",
                "spec": {},
            }
        )
        array = group.create_array(
            "emb",
            shape=(stop - start, embeddings.shape[1]),
            chunks=(8, embeddings.shape[1]),
            dtype="float32",
            fill_value=0,
        )
        array[:] = embeddings[start:stop]
        seal_store(path)
        names.append(path.name)
    manifest = folder / "features.json"
    manifest.write_text(
        json.dumps(
            {
                "backbone": "toy",
                "shape": list(embeddings.shape),
                "layers": ["emb"],
                "layer_sizes": [embeddings.shape[1]],
                "dtype": "float32",
                "spec": {},
                "shards": names,
            }
        )
    )
    return manifest


def trial_table(subject: int, rng: np.random.Generator, image_ids: list[str], test_ids: set[str]):
    """One subject's trials in a shuffled order, cut into runs of RUN_LENGTH."""
    shown = [i for i in image_ids for _ in range(TEST_REPS if i in test_ids else TRAIN_REPS)]
    order = rng.permutation(len(shown))
    images = [shown[k] for k in order]
    n = len(images)
    run = np.arange(n) // RUN_LENGTH + 1
    split = np.where([i in test_ids for i in images], "test", "train").astype(object)
    split[(run >= run.max() - 1) & (split == "train")] = "validation"
    return pd.DataFrame(
        {
            "subject": np.full(n, subject, dtype=np.int64),
            "session": np.ones(n, dtype=np.int64),
            "run": run.astype(np.int64),
            "image": images,
            "split": [str(s) for s in split],
            "onset": 6.0 + 10.0 * (np.arange(n) % RUN_LENGTH),
        }
    )


def make_study(root: Path, noise: float = 0.5, seed: int = 0, subjects=(1, 2)) -> Study:
    """Write the study under ``root`` (module docstring)."""
    rng = np.random.default_rng(seed)
    image_ids = [f"img{i:03d}" for i in range(N_IMAGES)]
    test_ids = image_ids[:N_TEST]
    embeddings = rng.standard_normal((N_IMAGES, DIMS)).astype(np.float32)
    stimuli = pd.DataFrame(
        {
            "image_id": image_ids,
            "split": ["test" if i in test_ids else "train" for i in image_ids],
            "index": list(range(N_IMAGES)),
            "concept": ["c"] * N_IMAGES,
            "file": [f"{i}.jpg" for i in image_ids],
        }
    )
    stimuli_path = root / "stimuli.tsv"
    root.mkdir(parents=True, exist_ok=True)
    write_stimuli_table(stimuli, stimuli_path)
    features = write_features(root / "features", embeddings, image_ids)
    shared = rng.standard_normal((DIMS, VERTICES))
    stores = []
    for subject in subjects:
        table = trial_table(subject, rng, image_ids, set(test_ids))
        mapping = shared + 0.3 * rng.standard_normal((DIMS, VERTICES))
        rows = np.array([image_ids.index(i) for i in table["image"]])
        clean = (embeddings[rows] @ mapping)[:, :, None] * PROFILE[None, None, :]
        data = clean + noise * rng.standard_normal(clean.shape)
        path = root / "prepared" / f"sub-{subject:02d}.zarr"
        write_trial_store(
            path,
            table,
            data.astype(np.float32),
            modality="fmri",
            dataset="b5k",
            subject=subject,
            dims=["trial", "vertex", "tr"],
            coords={"vertex": list(range(VERTICES)), "tr": list(range(TRS))},
            sampling_period=2.0,
            preprocessing={"window": [2.0, 9.0]},
        )
        stores.append(path)
    return Study(
        root, stores, tuple(subjects), stimuli_path, features, embeddings, image_ids, test_ids
    )
