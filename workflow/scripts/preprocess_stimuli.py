"""Snakemake entry point of rules prepare_{meg,eeg}_stimuli."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.preprocess.stimuli import write_stimuli

start_job(snakemake)
write_stimuli(
    snakemake.params.format,
    Path(snakemake.input.images).parent,
    Path(snakemake.output[0]),
)
