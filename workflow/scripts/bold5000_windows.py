"""Snakemake entry point of rule bold5000_windows."""

from pathlib import Path

from bergforge import paths
from bergforge.logs import start_job
from bergforge.preprocess.bold5000_jobs import prepare_windows_job

start_job(snakemake)
prepare_windows_job(
    Path(snakemake.input.trials),
    Path(paths.fill(paths.RAW, dataset=snakemake.wildcards.dataset)),
    int(snakemake.wildcards.subject),
    Path(snakemake.output[0]),
    dataset=snakemake.wildcards.dataset,
    preprocess=snakemake.params.preprocess,
)
