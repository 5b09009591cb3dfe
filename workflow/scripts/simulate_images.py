"""Snakemake entry point of rules simulate_{meg,eeg}_images."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.simulate.study import simulate_images

start_job(snakemake)
simulate_images(
    snakemake.params.format,
    snakemake.params.simulation,
    snakemake.wildcards.dataset,
    Path(snakemake.output.images).parent,
    Path(snakemake.output.table),
)
