"""Snakemake entry point of rule simulate_prepared_truth."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.simulate.study import simulate_prepared_truth

start_job(snakemake)
simulate_prepared_truth(
    snakemake.params.format,
    snakemake.params.simulation,
    snakemake.wildcards.dataset,
    int(snakemake.wildcards.subject),
    Path(snakemake.input.table).parent.parent,
    snakemake.params.preprocess,
    Path(snakemake.output[0]),
    snakemake.params.n_trials,
)
