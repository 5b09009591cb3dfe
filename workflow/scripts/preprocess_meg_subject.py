"""Snakemake entry point of rule preprocess_meg_subject."""

from pathlib import Path

from bergforge.config import job_runtime
from bergforge.logs import log_runtime, start_job
from bergforge.preprocess.meg import prepare_subject
from bergforge.preprocess.params import meg_params

start_job(snakemake)
log_runtime(job_runtime(snakemake))  # threads and memory this job was given
design = snakemake.params.design
prepare_subject(
    Path(snakemake.input.images).parent,
    int(snakemake.wildcards.subject),
    Path(snakemake.output[0]),
    meg_params(snakemake.params.preprocess),
    n_sessions=design["n_sessions"],
    runs_per_session=design["runs_per_session"],
    dataset=snakemake.wildcards.dataset,
)
