"""Snakemake entry point of rule download_bold5000_subject: what the decoding route reads of one
BOLD5000 subject, into ds001499's layout under resources/raw/{dataset}/, and its manifest."""

from pathlib import Path

from bergforge.datasets.fetch import fetch_in_place
from bergforge.datasets.sources import bold5000_subject_bytes, bold5000_subject_files
from bergforge.logs import log_runtime, start_job
from bergforge.workflow.download import download_runtime

start_job(snakemake)
options = dict(snakemake.params.options)
base_urls = options.pop("base_urls")
dataset = snakemake.wildcards.dataset
runtime = download_runtime(snakemake.config, dataset)  # read now: no rerun
log_runtime(runtime)
subject = int(snakemake.wildcards.subject)
fetch_in_place(
    bold5000_subject_files(subject),
    base_urls,
    Path("resources/raw") / dataset,
    Path(snakemake.output[0]),
    expected_bytes=bold5000_subject_bytes(subject),
    **options,
    **runtime,
)
