"""Snakemake entry point of rule preprocess_eeg_subject."""

from pathlib import Path

from bergforge.config import job_runtime
from bergforge.logs import log_runtime, start_job
from bergforge.preprocess.eeg import prepare_subject
from bergforge.preprocess.params import eeg_params

start_job(snakemake)
log_runtime(job_runtime(snakemake))  # threads and memory this job was given
prepare_subject(
    Path(snakemake.input.images).parent,
    int(snakemake.wildcards.subject),
    Path(snakemake.output[0]),
    eeg_params(snakemake.params.preprocess),
    n_sessions=snakemake.params.design["n_sessions"],
    dataset=snakemake.wildcards.dataset,
)
