"""Snakemake entry point of the fit rules (one per model kind): fit one model folder."""

from pathlib import Path

from bergforge.config import job_runtime
from bergforge.logs import start_job
from bergforge.workflow.jobs import fit_job
from bergforge.workflow.models import kind_runtime

start_job(snakemake)
kind = snakemake.rule.removeprefix("fit_")
# device, Dask scheduler, threads and memory: read now, never a rerun trigger
runtime = job_runtime(snakemake) | kind_runtime(snakemake.config, snakemake.wildcards.dataset, kind)
fit_job(
    snakemake.config,
    dict(snakemake.wildcards),
    prepared=[Path(p) for p in snakemake.input.prepared],
    stimuli=Path(snakemake.input.stimuli),
    features=snakemake.input.get("features"),
    images=snakemake.input.get("images"),
    settings=snakemake.params.settings,
    marker=Path(snakemake.output[0]),
    runtime=runtime,
)
