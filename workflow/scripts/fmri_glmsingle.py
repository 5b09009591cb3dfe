"""Snakemake entry point of rule fmri_glmsingle."""

from pathlib import Path

from bergforge.logs import setup_logging
from bergforge.preprocess.fmri_jobs import glmsingle_job

setup_logging(snakemake.log[0])
glmsingle_job(
    Path(snakemake.input.stimuli).parent,
    int(snakemake.wildcards.subject),
    snakemake.params.glmsingle,
    Path(snakemake.output.glmsingle),
    Path(snakemake.output.betas),
)
