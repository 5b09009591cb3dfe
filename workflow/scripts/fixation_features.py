"""Snakemake entry point of rule fixation_features."""

from bergforge.config import job_runtime
from bergforge.features.fixation_job import fixation_features_job
from bergforge.logs import start_job
from bergforge.workflow.free_viewing_jobs import table_spec

start_job(snakemake)
runtime = job_runtime(snakemake, "features")  # device and threads: read now, never a rerun
job = dict(snakemake.params.job)
fixation_features_job(
    job["table_file"],
    table_spec(snakemake.input.get("study"), job["table"]),
    job["stimuli"],
    job["backbone"],
    job["overrides"],
    job["layer"],
    job["route"],
    job["crop"],
    snakemake.output[0],
    device=runtime.get("device", "cpu"),
    threads=runtime["threads"],
)
