"""Snakemake entry point of rule fmri_simulate_study."""

from pathlib import Path

from bergforge.fmri.jobs import simulate_study_job
from bergforge.logs import setup_logging

setup_logging(snakemake.log[0])
simulate_study_job(
    snakemake.params.simulation,
    snakemake.params.subjects,
    Path(snakemake.output.stimuli).parent,
    Path(snakemake.output.done),
)
