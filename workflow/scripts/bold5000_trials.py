"""Snakemake entry point of rule bold5000_trials."""

from pathlib import Path

from bergforge import paths
from bergforge.logs import start_job
from bergforge.preprocess.bold5000_jobs import write_trials_job

start_job(snakemake)
write_trials_job(
    Path(paths.fill(paths.RAW, dataset=snakemake.wildcards.dataset)),
    {int(s): [tuple(r) for r in runs] for s, runs in snakemake.params.runs.items()},
    Path(snakemake.output.trials),
    Path(snakemake.output.stimuli),
)
