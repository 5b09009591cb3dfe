"""Snakemake entry point of rules prepare_{meg,eeg}_stimuli."""

from pathlib import Path

from bergforge.logs import setup_logging
from bergforge.preprocess.stimuli import write_stimuli

setup_logging(snakemake.log[0])
write_stimuli(
    snakemake.params.format,
    Path(snakemake.input.images).parent,
    Path(snakemake.output[0]),
)
