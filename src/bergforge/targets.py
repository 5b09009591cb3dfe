"""Target lists of the workflow, computed from the validated config (used by the Snakefile)."""

from __future__ import annotations

from typing import Any

from bergforge.config import datasets_where


def alternation(names: list[str]) -> str:
    """A wildcard-constraint regex matching exactly ``names`` (and nothing when empty)."""
    return "|".join(names) if names else "(?!x)x"


def subject_label(fmt: str, subject: int) -> str:
    """How a dataset's raw files name a subject (``BIGMEG1`` for THINGS-MEG1, ``01`` otherwise)."""
    return f"BIGMEG{subject}" if fmt == "things_meg1" else f"{subject:02d}"


def simulated_raw_targets(config: dict[str, Any]) -> list[str]:
    """The ground-truth file of every simulated subject (written last by its simulate job)."""
    targets = []
    for name in datasets_where(config, source="simulated"):
        ds = config["datasets"][name]
        for subject in ds["subjects"]:
            label = subject_label(ds["format"], subject)
            targets.append(f"resources/raw/{name}/ground_truth/sub-{label}_truth.npz")
    return targets


def all_targets(config: dict[str, Any]) -> list[str]:
    """What `rule all` builds: every stage output that exists so far (one line per stage)."""
    targets: list[str] = []
    targets += simulated_raw_targets(config)
    return targets
