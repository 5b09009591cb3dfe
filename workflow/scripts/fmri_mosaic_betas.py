"""Snakemake entry point of rule fmri_mosaic_betas."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.preprocess.mosaic_betas import mosaic_betas_job

start_job(snakemake)
mosaic_betas_job(
    Path(snakemake.input.betas),
    Path(snakemake.input.stiminfo),
    int(snakemake.wildcards.subject),
    snakemake.params.mosaic,
    Path(snakemake.output.betas),
)
