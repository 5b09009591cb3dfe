"""Snakemake entry point of rule evaluate_subject: every model of one subject against its test data."""

from pathlib import Path

from bergforge.config import job_runtime
from bergforge.logs import start_job
from bergforge.workflow.jobs import evaluate_job

start_job(snakemake)
evaluate_job(
    snakemake.config,
    dict(snakemake.wildcards),
    models=[Path(m) for m in snakemake.input.models],
    prepared=Path(snakemake.input.prepared),
    stimuli=Path(snakemake.input.stimuli),
    features=snakemake.input.get("features"),
    images=snakemake.input.get("images"),
    evaluation=Path(snakemake.output.evaluation),
    summary=Path(snakemake.output.summary),
    runtime=job_runtime(snakemake),  # threads and memory: read now, never a rerun trigger
)
