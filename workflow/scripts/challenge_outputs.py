"""Snakemake entry point of rule challenge_outputs."""

from bergforge.logs import start_job
from bergforge.workflow.free_viewing_jobs import challenge_job, table_spec

start_job(snakemake)
job = dict(snakemake.params.job)
challenge_job(
    snakemake.output[0],
    model_dir=snakemake.input.model,
    feature_file=snakemake.input.features,
    table_file=job["table_file"],
    spec=table_spec(snakemake.input.get("study"), job["table"]),
    subject=job["subject"],
    latency=job["latency"],
    model_info=job["model_info"],
)
