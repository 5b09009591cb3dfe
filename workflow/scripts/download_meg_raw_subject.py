"""Snakemake entry point of rule download_meg_raw_subject: every BIDS run of one participant."""

from pathlib import Path

from bergforge.datasets.fetch import fetch_tree
from bergforge.datasets.sources import meg_raw_files
from bergforge.logs import setup_logging

setup_logging(snakemake.log[0])
options = dict(snakemake.params.options)
base_urls = options.pop("base_urls")
fetch_tree(
    meg_raw_files(int(snakemake.wildcards.n)), base_urls, Path(snakemake.output[0]), **options
)
