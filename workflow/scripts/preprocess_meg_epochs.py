"""Snakemake entry point of rule preprocess_meg_subject_from_epochs."""

from pathlib import Path

from bergforge.config import job_runtime
from bergforge.logs import log_runtime, start_job
from bergforge.preprocess.meg_epochs import prepare_subject_from_epochs
from bergforge.preprocess.params import meg_params

start_job(snakemake)
log_runtime(job_runtime(snakemake))  # threads and memory this job was given
prepare_subject_from_epochs(
    Path(snakemake.input.epochs),
    Path(snakemake.input.images).parent,
    int(snakemake.wildcards.subject),
    Path(snakemake.output[0]),
    meg_params(snakemake.params.preprocess),
    dataset=snakemake.wildcards.dataset,
)
