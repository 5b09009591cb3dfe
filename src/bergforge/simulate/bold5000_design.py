"""BOLD5000's design at full size, generated: the ``events.tsv`` of every run of a subject.

From the counts of research/decoding.md §1.2: CSI1–3 see 4,803 images once and the 113 repeated
images 451 times (CSI1 and CSI2: 112 × 4 and 1 × 3; CSI3: 107 × 4, 3 × 5, 2 × 3, 1 × 2); CSI4 sees
2,846 images once and 106 of the repeated images 262 times (16 × 1, 39 × 2, 37 × 3, 13 × 4,
1 × 5). Trials are shuffled over the runs with a seed; a repeated image's first presentation has
the plain ``ImgType``, later ones ``rep_…``. Onsets every 10 s from 6 s (jittered by up to 50 ms).
Used by the tests (the task's split counts) and the simulated decoding study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.atomic import save_text
from bergforge.datasets.bold5000 import (
    EVENT_COLUMNS,
    TRIALS_PER_RUN,
    events_path,
    runs_of,
)

#: presentations per repeated image → number of such images, per subject
REPETITIONS = {
    1: {4: 112, 3: 1},
    2: {4: 112, 3: 1},
    3: {4: 107, 5: 3, 3: 2, 2: 1},
    4: {1: 16, 2: 39, 3: 37, 4: 13, 5: 1},
}
#: repeated images by kind (45 COCO, 45 ImageNet, 23 scenes)
REPEATED_KINDS = ("coco",) * 45 + ("imagenet",) * 45 + ("scenes",) * 23


def image_name(kind: str, k: int) -> str:
    """A file name in the style of the kind's source (COCO, ImageNet synset, SUN scene)."""
    if kind == "coco":
        return f"COCO_train2014_{k:012d}.jpg"
    if kind == "imagenet":
        return f"n{1_000_000 + k:08d}_{k}.JPEG"
    return f"scene{k:05d}.jpg"


def repeated_images() -> list[tuple[str, str]]:
    """(kind, name) of the 113 repeated images."""
    return [(kind, image_name(kind, 900_000 + i)) for i, kind in enumerate(REPEATED_KINDS)]


def subject_trials(subject: int, seed: int = 0) -> list[tuple[str, str]]:
    """(kind, name) of every trial of the subject, shuffled (one entry per presentation)."""
    rng = np.random.default_rng([seed, subject])
    repeated = repeated_images()
    counts = [n for n, images in sorted(REPETITIONS[subject].items()) for _ in range(images)]
    order = rng.permutation(len(repeated))[: len(counts)]
    trials = [repeated[i] for i, n in zip(order, counts, strict=True) for _ in range(n)]
    n_once = len(runs_of(subject)) * TRIALS_PER_RUN - len(trials)
    kinds = rng.choice(["coco", "imagenet", "scenes"], size=n_once, p=[0.4, 0.4, 0.2])
    trials += [
        (str(kind), image_name(str(kind), subject * 100_000 + i)) for i, kind in enumerate(kinds)
    ]
    return [trials[i] for i in rng.permutation(len(trials))]


def run_events(
    subject: int,
    session: int,
    run: int,
    block: list[tuple[str, str]],
    seen: set[str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One run's events table (ds001499's columns) of the (kind, name) trials ``block``; ``seen``
    (updated) holds the images shown before, whose next presentations are ``rep_…``."""
    n = len(block)
    types = []
    for kind, name in block:
        types.append(f"rep_{kind}" if name in seen else kind)
        seen.add(name)
    onset = 6.0 + 10.0 * np.arange(n) + rng.uniform(0, 0.05, n)
    names = [name for _, name in block]
    return pd.DataFrame(
        {
            "onset": np.round(onset, 4),
            "duration": np.round(rng.uniform(0.96, 0.98, n), 4),
            "Subj": subject,
            "Sess": session,
            "Run": run,
            "Trial": np.arange(1, n + 1),
            "ImgName": names,
            "ImgType": types,
            "StimOn(s)": np.round(onset + 0.01, 4),
            "StimOff(s)": np.round(onset + 1.0, 4),
            "Response": rng.integers(1, 5, n),
            "RT": np.round(rng.uniform(0.4, 1.5, n), 4),
            "stim_file": names,
        },
        columns=list(EVENT_COLUMNS),
    )


def subject_events(subject: int, seed: int = 0) -> dict[tuple[int, int], pd.DataFrame]:
    """(session, run) → that run's events table with ds001499's columns."""
    rng = np.random.default_rng([seed, subject, 1])
    trials = subject_trials(subject, seed)
    seen: set[str] = set()
    return {
        (session, run): run_events(
            subject, session, run, trials[k * TRIALS_PER_RUN : (k + 1) * TRIALS_PER_RUN], seen, rng
        )
        for k, (session, run) in enumerate(runs_of(subject))
    }


def write_events(root: Path, subject: int, seed: int = 0) -> list[Path]:
    """Write every run's ``events.tsv`` of the subject under ``root`` (ds001499 layout)."""
    written = []
    for (session, run), table in subject_events(subject, seed).items():
        path = events_path(root, subject, session, run)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_text(path, table.to_csv(sep="\t", index=False))
        written.append(path)
    return written
