"""The job of rule evaluate_subject: test predictions, r and noise ceilings of a subject's models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from bergforge.models.linear.fit import EncodingOptions
from bergforge.models.linear.job import open_features, read_stimuli_table
from bergforge.preprocess.responses import PreparedResponses


def evaluate_job(
    prepared: Path | str,
    stimuli: Path | str,
    features: Path | str,
    model_jsons: list[str],
    encoding: dict[str, Any] | None,
    evaluation: Path | str,
    threads: int = 1,
) -> None:
    """Evaluate every split model of one subject; files go beside ``evaluation``."""
    from bergforge.evaluation.evaluate import evaluate_subject

    options = EncodingOptions.from_config(encoding)
    dirs = {Path(m).parent.name.removeprefix("split-"): Path(m).parent for m in model_jsons}
    with threadpool_limits(limits=max(1, threads), user_api="blas"):
        evaluate_subject(
            PreparedResponses(prepared),
            read_stimuli_table(stimuli),
            open_features(features),
            dirs,
            Path(evaluation).parent,
            options.pca.block_size,
        )
