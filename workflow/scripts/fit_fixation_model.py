"""Snakemake entry point of rule fit_fixation_model."""

from bergforge.logs import start_job
from bergforge.workflow.free_viewing import kind_device
from bergforge.workflow.free_viewing_jobs import fit_job

start_job(snakemake)
fit_job(
    snakemake.output[0],
    feature_files=list(snakemake.input.features),
    store_files=list(snakemake.input.prepared),
    device=kind_device(snakemake.config, snakemake.wildcards.dataset, snakemake.wildcards.kind),
    threads=snakemake.threads,
    **snakemake.params.job,
)
