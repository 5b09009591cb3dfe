"""Snakemake entry point of rule fmri_mosaic_betas."""

from pathlib import Path

from bergforge.logs import setup_logging
from bergforge.preprocess.mosaic_betas import mosaic_betas_job

setup_logging(snakemake.log[0])
mosaic_betas_job(
    Path(snakemake.input.betas),
    Path(snakemake.input.stiminfo),
    int(snakemake.wildcards.subject),
    snakemake.params.mosaic,
    Path(snakemake.output.betas),
)
