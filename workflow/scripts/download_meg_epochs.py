"""Snakemake entry point of rule download_meg_epochs: P{n}'s published epochs, all split parts."""

from pathlib import Path

from bergforge.datasets.fetch import fetch_file
from bergforge.datasets.sources import meg_epochs_parts
from bergforge.logs import log_runtime, start_job
from bergforge.workflow.download import download_runtime

start_job(snakemake)
options = dict(snakemake.params.options)
base_urls = options.pop("base_urls")
runtime = download_runtime(snakemake.config, snakemake.wildcards.dataset)  # read now: no rerun
log_runtime(runtime)
outputs = [snakemake.output.main, *snakemake.output.parts]
for file, dest in zip(meg_epochs_parts(int(snakemake.wildcards.n)), outputs, strict=True):
    fetch_file(file, base_urls, Path(dest), **options, **runtime)
