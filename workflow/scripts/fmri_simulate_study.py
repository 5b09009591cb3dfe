"""Snakemake entry point of rule fmri_simulate_study."""

from pathlib import Path

from bergforge.logs import setup_logging
from bergforge.simulate.nsd_job import simulate_study_job

setup_logging(snakemake.log[0])
simulate_study_job(
    snakemake.params.simulation,
    snakemake.params.subjects,
    Path(snakemake.output.stimuli).parent,
    Path(snakemake.output.done),
)
