"""Snakemake entry point of rules simulate_{meg,eeg}_images."""

from pathlib import Path

from bergforge.logs import setup_logging
from bergforge.simulate.study import simulate_images

setup_logging(snakemake.log[0])
simulate_images(
    snakemake.params.format,
    snakemake.params.simulation,
    snakemake.wildcards.dataset,
    Path(snakemake.output.images).parent,
    Path(snakemake.output.table),
)
