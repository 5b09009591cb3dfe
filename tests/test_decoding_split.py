"""The decoding split on full-size BOLD5000-like events (research/decoding.md §1.2, §1.7).

The events are generated here from the note's description of CSI1: 15 sessions, sessions 1, 2, 3,
5, 7, 10 and 15 with 10 runs and the others 9 (142 runs), 37 trials per run (5,254 trials); 113
repeated images, 112 shown 4 times and one 3 times (451 test trials); the other 4,803 trials each a
unique image. The validation runs are checked against ``train_test_split`` applied, as neuralbench
does, to the timeline labels themselves, and their number against ceil(0.2 × 142) = 29.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from bergforge.errors import DataError
from bergforge.preprocess.decoding_split import decoding_split

TEN_RUN_SESSIONS = {1, 2, 3, 5, 7, 10, 15}


def bold5000_csi1_events(seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """(events in recording order, the 113 repeated image ids)."""
    runs = [
        (session, run)
        for session in range(1, 16)
        for run in range(1, (10 if session in TEN_RUN_SESSIONS else 9) + 1)
    ]
    n = 37 * len(runs)
    repeated = [f"rep_{i:03d}.jpg" for i in range(113)]
    shown = [name for name in repeated[:112] for _ in range(4)] + [repeated[112]] * 3
    rng = np.random.default_rng(seed)
    images = np.array([f"img_{i:04d}.jpg" for i in range(n - len(shown))] + shown, dtype=object)
    images = images[rng.permutation(n)]
    events = pd.DataFrame(
        {
            "subject": 1,
            "session": np.repeat([s for s, _ in runs], 37),
            "run": np.repeat([r for _, r in runs], 37),
            "image": images,
            "onset": np.tile(6.0 + 10.0 * np.arange(37), len(runs)),
        }
    )
    return events, repeated


def test_split_counts_and_validation_runs_reproduce_neuralbench():
    events, repeated = bold5000_csi1_events()
    assert len(events) == 5254
    split = decoding_split(events, repeated)
    test = split == "test"
    assert test.sum() == 451 and (split != "test").sum() == 4803
    assert set(events.image[test]) == set(repeated)
    # the validation runs: train_test_split on the 142 timeline labels, in recording order
    labels = [
        f"{s}_{se:02d}_{r:02d}"
        for s, se, r in events[["subject", "session", "run"]]
        .drop_duplicates()
        .itertuples(index=False)
    ]
    assert len(labels) == 142
    _, held_out = train_test_split(labels, test_size=0.2, random_state=33)
    assert len(held_out) == math.ceil(0.2 * 142) == 29
    label = [
        f"{s}_{se:02d}_{r:02d}"
        for s, se, r in events[["subject", "session", "run"]].itertuples(index=False)
    ]
    in_held_out = np.isin(label, held_out)
    np.testing.assert_array_equal(split == "validation", in_held_out & ~test)
    np.testing.assert_array_equal(split == "train", ~in_held_out & ~test)
    assert (split == "validation").sum() == (in_held_out & ~test).sum() > 29 * 30
    # test trials of validation runs stay test
    assert (in_held_out & test).any()


def test_the_split_depends_on_the_seed_and_keeps_test_trials():
    events, repeated = bold5000_csi1_events(seed=1)
    a = decoding_split(events, repeated)
    b = decoding_split(events, repeated, seed=34)
    assert (a == "test").sum() == (b == "test").sum() == 451
    assert not np.array_equal(a == "validation", b == "validation")


def test_bad_input_is_one_error():
    events, repeated = bold5000_csi1_events()
    with pytest.raises(DataError, match=r"lacks columns \['run'\]"):
        decoding_split(events.drop(columns="run"), repeated)
    with pytest.raises(DataError, match="no trial shows a test image"):
        decoding_split(events, ["unknown.jpg"])
    with pytest.raises(DataError, match="validation fraction 1.5"):
        decoding_split(events, repeated, validation_fraction=1.5)
