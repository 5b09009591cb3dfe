"""Snakemake entry point of rule evaluate_fixations."""

from bergforge.logs import start_job
from bergforge.workflow.free_viewing_jobs import evaluate_job

start_job(snakemake)
evaluate_job(
    snakemake.output[0],
    model_dir=snakemake.input.model,
    feature_file=snakemake.input.features,
    store_file=snakemake.input.prepared,
    **snakemake.params.job,
)
