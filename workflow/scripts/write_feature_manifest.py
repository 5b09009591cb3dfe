"""Snakemake entry point of rule feature_manifest."""

from bergforge.features.job import write_manifest
from bergforge.logs import setup_logging

setup_logging(snakemake.log[0])
write_manifest(list(snakemake.input), snakemake.output[0])
