"""Snakemake entry point of rule fmri_glmsingle."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.preprocess.fmri_jobs import glmsingle_job

start_job(snakemake)
glmsingle_job(
    Path(snakemake.input.stimuli).parent,
    int(snakemake.wildcards.subject),
    snakemake.params.glmsingle,
    Path(snakemake.output.glmsingle),
    Path(snakemake.output.betas),
)
