"""Snakemake entry point of rule meeg_decoding_windows (the neuralbench-style MEG/EEG windows)."""

from pathlib import Path

from bergforge.config import job_runtime
from bergforge.logs import log_runtime, start_job
from bergforge.preprocess.meeg_decoding import prepare_decoding_job

start_job(snakemake)
log_runtime(job_runtime(snakemake))  # threads and memory this job was given
prepare_decoding_job(
    snakemake.params.format,
    Path(snakemake.input.images).parent,
    int(snakemake.wildcards.subject),
    Path(snakemake.output[0]),
    snakemake.params.preprocess,
    snakemake.params.design,
    dataset=snakemake.wildcards.dataset,
)
