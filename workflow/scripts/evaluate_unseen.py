"""Snakemake entry point of rule evaluate_unseen: one held-out subject of a model's dataset."""

from pathlib import Path

from bergforge.config import job_runtime
from bergforge.logs import start_job
from bergforge.workflow.jobs import evaluate_unseen_job

start_job(snakemake)
evaluate_unseen_job(
    snakemake.config,
    dict(snakemake.wildcards),
    prepared=[Path(p) for p in snakemake.input.prepared],
    stimuli=Path(snakemake.input.stimuli),
    features=Path(snakemake.input.features),
    own=snakemake.input.get("own"),
    settings=snakemake.params.settings,
    evaluation=Path(snakemake.output.evaluation),
    runtime=job_runtime(snakemake),  # threads and memory: read now, never a rerun trigger
)
