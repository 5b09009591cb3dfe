"""Snakemake entry point of rule unpack_bold5000_stimuli: BOLD5000_Stimuli.zip → BOLD5000_Stimuli/."""

from pathlib import Path

from bergforge.datasets.fetch import unpack_bold5000_stimuli
from bergforge.logs import start_job

start_job(snakemake)
unpack_bold5000_stimuli(Path(snakemake.input[0]), Path(snakemake.output[0]))
