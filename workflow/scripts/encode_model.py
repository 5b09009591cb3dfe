"""Snakemake entry point of rule encode_model."""

from bergforge.logs import setup_logging
from bergforge.models.linear.job import encode_job

setup_logging(snakemake.log[0])
encode_job(
    snakemake.input.prepared,
    snakemake.input.stimuli,
    snakemake.input.features,
    snakemake.wildcards.split,
    snakemake.params.encoding,
    snakemake.output.model,
    threads=snakemake.threads,
)
