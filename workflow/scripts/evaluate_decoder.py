"""Snakemake entry point of rule evaluate_decoder: image retrieval by one decoding model."""

from pathlib import Path

from bergforge.config import job_runtime
from bergforge.logs import start_job
from bergforge.workflow.jobs import evaluate_decoder_job

start_job(snakemake)
evaluate_decoder_job(
    snakemake.config,
    dict(snakemake.wildcards),
    model=Path(snakemake.input.model),
    prepared=[Path(p) for p in snakemake.input.prepared],
    stimuli=Path(snakemake.input.stimuli),
    features=Path(snakemake.input.features),
    retrieval=Path(snakemake.output.retrieval),
    ranks=Path(snakemake.output.ranks),
    runtime=job_runtime(snakemake),  # threads and memory: read now, never a rerun trigger
)
