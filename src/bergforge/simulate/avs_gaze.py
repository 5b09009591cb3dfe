"""Seeded fixation sequences of a simulated free-viewing (AVS-like) study.

Per subject and scene (``rng([seed, 30, subject, trial])``): the first fixation lands near the
scene centre (where the fixation cross was), later ones anywhere on the scene (so some crops
reach the edge); durations are gamma-distributed (shape 3, right-skewed as real fixation
durations are; mean ``mean_duration``, clipped to 80 ms–1 s), separated by saccades of
``saccade_duration``; fixations start until the scene's ``duration`` ends, and the last is cut at
the scene's end. AVS reports ~9 fixations per 4-s scene; the simulator's defaults (mean 0.35 s,
median ≈ 0.3 s, 50-ms saccades) give about 10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Shortest and longest simulated fixation (s)
DURATION_RANGE = (0.08, 1.0)
GAMMA_SHAPE = 3.0


def scene_fixations(
    rng: np.random.Generator,
    start: float,
    duration: float,
    size: int,
    mean_duration: float,
    saccade_duration: float,
    margin: float = 1.0,
) -> pd.DataFrame:
    """Fixations (onset, duration, x, y) of one scene shown from ``start`` for ``duration`` s."""
    end = start + duration
    rows = []
    t = start
    centre = size / 2
    while t < end - DURATION_RANGE[0]:
        d = float(np.clip(rng.gamma(GAMMA_SHAPE, mean_duration / GAMMA_SHAPE), *DURATION_RANGE))
        if rows:
            x, y = rng.uniform(margin, size - margin, 2)
        else:
            x, y = centre + rng.normal(0, size / 40, 2)
        rows.append((t, min(d, end - t), float(x), float(y)))
        t += d + saccade_duration
    table = pd.DataFrame(rows, columns=["onset", "duration", "x", "y"])
    table["next_x"] = table["x"].shift(-1)
    table["next_y"] = table["y"].shift(-1)
    return table
