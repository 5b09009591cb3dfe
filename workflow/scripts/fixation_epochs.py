"""Snakemake entry point of rule fixation_epochs."""

from bergforge.logs import start_job
from bergforge.workflow.free_viewing_jobs import epochs_job, table_spec

start_job(snakemake)
job = dict(snakemake.params.job)
spec = table_spec(snakemake.input.get("study"), job.pop("table", None))
epochs_job(snakemake.output[0], spec=spec, **job)
