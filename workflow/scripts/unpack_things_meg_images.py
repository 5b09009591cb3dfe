"""Snakemake entry point of rule unpack_things_meg_images: THINGS zips → images/ + image table."""

from pathlib import Path

from bergforge.datasets.fetch import unpack_things_meg_images
from bergforge.logs import start_job

start_job(snakemake)
unpack_things_meg_images(
    [Path(p) for p in snakemake.input.zips],
    Path(snakemake.input.password),
    [Path(p) for p in snakemake.input.attributes],
    Path(snakemake.output[0]),
)
