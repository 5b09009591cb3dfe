"""Snakemake entry point of rule feature_manifest."""

from bergforge.features.manifest_job import write_manifest
from bergforge.logs import start_job

start_job(snakemake)
write_manifest(list(snakemake.input), snakemake.output[0])
