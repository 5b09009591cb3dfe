"""Snakemake entry point of rule fmri_glmsingle."""

from pathlib import Path

from bergforge.fmri.jobs import glmsingle_job
from bergforge.logs import setup_logging

setup_logging(snakemake.log[0])
glmsingle_job(
    Path(snakemake.input.stimuli).parent,
    int(snakemake.wildcards.subject),
    snakemake.params.glmsingle,
    Path(snakemake.output.glmsingle),
    Path(snakemake.output.betas),
)
