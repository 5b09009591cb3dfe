"""Snakemake entry point of rule simulate_avs_study."""

from bergforge.logs import start_job
from bergforge.workflow.free_viewing_jobs import simulate_study_job

start_job(snakemake)
simulate_study_job(snakemake.output.study, snakemake.params.simulation)
