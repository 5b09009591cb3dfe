"""Snakemake entry point of rule fmri_simulate_study."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.simulate.nsd_job import simulate_study_job

start_job(snakemake)
simulate_study_job(
    snakemake.params.simulation,
    snakemake.params.subjects,
    Path(snakemake.output.stimuli).parent,
    Path(snakemake.output.done),
)
