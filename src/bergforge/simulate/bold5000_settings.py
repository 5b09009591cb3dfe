"""The ``simulation`` section of a simulated BOLD5000 dataset (:mod:`bergforge.simulate.bold5000`
writes the study). Light to import: Snakemake's parse reads a study's design (its runs) from it
without loading the simulator's SciPy, nibabel and image code."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bergforge.datasets import bold5000 as b5
from bergforge.errors import ConfigError
from bergforge.simulate.options import check_options


@dataclass(frozen=True)
class Bold5000Simulation:
    """The ``simulation`` section of a ``bold5000`` dataset (tiny defaults)."""

    seed: int = 21
    n_sessions: int = 1
    runs_per_session: int = 2
    trials_per_run: int = 12
    n_test_images: int = 6
    test_presentations: int = 2
    image_size: int = 64
    n_latents: int = 6
    truth_backbone: str = "alexnet_untrained"
    signal_sd: float = 1.0
    noise_sd: float = 1.0
    drift_sd: float = 1.0
    rotation_deg: float = 2.0
    shared_fraction: float = 0.8
    nonlinear_share: float = 0.0
    nonlinear_hidden: int = 64

    def check(self, where: str) -> None:
        check_options(self, where)
        if self.n_train_images < 1:
            raise ConfigError(
                f"{where}: {self.n_runs} runs of {self.trials_per_run} trials hold "
                f"{self.n_trials} trials, fewer than the {self.n_test_images} × "
                f"{self.test_presentations} test presentations plus one training image; "
                "expected more runs or fewer test images"
            )
        if self.runs_per_session > 9 or not 1 <= self.n_sessions <= 9:
            raise ConfigError(f"{where}: expected 1–9 sessions of at most 9 runs (CSI4's design)")

    @property
    def n_runs(self) -> int:
        return self.n_sessions * self.runs_per_session

    @property
    def n_trials(self) -> int:
        return self.n_runs * self.trials_per_run

    @property
    def n_train_images(self) -> int:
        return self.n_trials - self.n_test_images * self.test_presentations

    @property
    def n_volumes(self) -> int:
        """Volumes per run: the last window (onset + 9 s) and 13 s of rest after it."""
        return math.ceil((6.0 + 10.0 * (self.trials_per_run - 1) + 22.0) / b5.TR)

    def runs(self) -> list[tuple[int, int]]:
        return [
            (s, r)
            for s in range(1, self.n_sessions + 1)
            for r in range(1, self.runs_per_session + 1)
        ]
