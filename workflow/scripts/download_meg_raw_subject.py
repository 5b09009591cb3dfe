"""Snakemake entry point of rule download_meg_raw_subject: every BIDS run of one participant."""

from pathlib import Path

from bergforge.datasets.fetch import fetch_tree
from bergforge.datasets.sources import meg_raw_files
from bergforge.logs import log_runtime, start_job
from bergforge.workflow.download import download_runtime

start_job(snakemake)
options = dict(snakemake.params.options)
base_urls = options.pop("base_urls")
runtime = download_runtime(snakemake.config, snakemake.wildcards.dataset)  # read now: no rerun
log_runtime(runtime)
fetch_tree(
    meg_raw_files(int(snakemake.wildcards.n)),
    base_urls,
    Path(snakemake.output[0]),
    **options,
    **runtime,
)
