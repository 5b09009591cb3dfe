"""Snakemake entry point of rule download_file: one catalogue file, verified and resumable."""

from pathlib import Path

from bergforge.datasets.fetch import fetch_file
from bergforge.datasets.sources import RemoteFile
from bergforge.logs import log_runtime, start_job
from bergforge.workflow.download import download_runtime

start_job(snakemake)
entry, options = snakemake.params.entry, dict(snakemake.params.options)
runtime = download_runtime(snakemake.config, snakemake.wildcards.dataset)  # read now: no rerun
log_runtime(runtime)
fetch_file(
    RemoteFile(**entry["file"]),
    options.pop("base_urls"),
    Path(snakemake.output[0]),
    **options,
    **runtime,
)
