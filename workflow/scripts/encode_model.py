"""Snakemake entry point of rule encode_model."""

from bergforge.encoding.job import encode_job
from bergforge.logs import setup_logging

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
